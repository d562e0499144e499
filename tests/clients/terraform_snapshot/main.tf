# A volume, a snapshot of it and a volume restored from that snapshot, as a new
# user writes them (tests/clients/test_terraform_snapshot.py; the provider:
# ../terraform/provider.tf).
data "aws_availability_zones" "zones" { state = "available" }

resource "aws_ebs_volume" "source" {
  availability_zone = data.aws_availability_zones.zones.names[0]
  size              = 1
  tags              = { Name = "tf-source" }
}

resource "aws_ebs_snapshot" "backup" {
  volume_id   = aws_ebs_volume.source.id
  description = "tf backup"
  tags        = { Name = "tf-backup" }
}

resource "aws_ebs_volume" "restored" {
  availability_zone = data.aws_availability_zones.zones.names[0]
  snapshot_id       = aws_ebs_snapshot.backup.id
  type              = "gp3"
  tags              = { Name = "tf-restored" }
}

output "source_id" { value = aws_ebs_volume.source.id }
output "snapshot_id" { value = aws_ebs_snapshot.backup.id }
output "restored_id" { value = aws_ebs_volume.restored.id }
