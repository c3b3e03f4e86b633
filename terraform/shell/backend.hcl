key          = "abshift/shell.tfstate"
encrypt      = true
use_lockfile = true
