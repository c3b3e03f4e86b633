region             = "eu-west-1"
cluster_name       = "paas-b"
kubernetes_version = "1.31"
