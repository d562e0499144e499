# The provider as every Terraform client test configures it: this cloud's EC2 (and
# STS, IAM) and S3 endpoints on loopback, a tenant's keys, no AWS account checks.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
variable "ec2_endpoint" {}
variable "s3_endpoint" {}
variable "region" {}
variable "access_key" {}
variable "secret_key" {}

provider "aws" {
  region                      = var.region
  access_key                  = var.access_key
  secret_key                  = var.secret_key
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    ec2 = var.ec2_endpoint
    sts = var.ec2_endpoint
    iam = var.ec2_endpoint
    s3  = var.s3_endpoint
  }
}
