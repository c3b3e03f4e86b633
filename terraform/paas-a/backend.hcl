key          = "abshift/paas-a.tfstate"
encrypt      = true
use_lockfile = true
