# An instance with termination protection, as a user writes it
# (tests/clients/test_terraform_protection.py; the provider: ../terraform/provider.tf):
# applied with protected = true, then false (the provider's ModifyInstanceAttribute),
# then destroyed.
variable "image_id" {}
variable "protected" { type = bool }

resource "aws_instance" "guarded" {
  ami                                  = var.image_id
  instance_type                        = "m1.small"
  disable_api_termination              = var.protected
  instance_initiated_shutdown_behavior = "terminate"
  tags                                 = { Name = "tf-guarded" }
}

output "instance_id" { value = aws_instance.guarded.id }
