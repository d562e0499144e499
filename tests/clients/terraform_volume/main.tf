# One EBS volume, as a new user writes it (tests/clients/test_terraform_volume.py;
# the provider: ../terraform/provider.tf).
data "aws_availability_zones" "zones" { state = "available" }

resource "aws_ebs_volume" "data" {
  availability_zone = data.aws_availability_zones.zones.names[0]
  size              = 2
  type              = "gp3"
  tags              = { Name = "tf-data" }
}

output "volume_id" { value = aws_ebs_volume.data.id }
