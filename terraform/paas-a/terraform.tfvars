region             = "eu-west-1"
cluster_name       = "paas-a"
kubernetes_version = "1.30"
