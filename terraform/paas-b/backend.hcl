key          = "abshift/paas-b.tfstate"
encrypt      = true
use_lockfile = true
