# One EBS volume, as a new user writes it (tests/clients/test_terraform_volume.py).
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
variable "ec2_endpoint" {}
variable "region" {}
variable "access_key" {}
variable "secret_key" {}

provider "aws" {
  region                      = var.region
  access_key                  = var.access_key
  secret_key                  = var.secret_key
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    ec2 = var.ec2_endpoint
    sts = var.ec2_endpoint
    iam = var.ec2_endpoint
  }
}

data "aws_availability_zones" "zones" { state = "available" }

resource "aws_ebs_volume" "data" {
  availability_zone = data.aws_availability_zones.zones.names[0]
  size              = 2
  type              = "gp3"
  tags              = { Name = "tf-data" }
}

output "volume_id" { value = aws_ebs_volume.data.id }
