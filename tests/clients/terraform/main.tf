# The stack of issue 12's Tests section, as a new user writes it (the provider:
# provider.tf).
variable "public_key" {}
variable "bucket" {}
variable "image_name" { default = "mallee-test" }
variable "image_owner" {}
variable "marker" {}

data "aws_availability_zones" "zones" { state = "available" }
data "aws_vpc" "default" { default = true }
data "aws_subnets" "default" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default.id]
  }
}
data "aws_ami" "test" {
  most_recent = true
  owners      = [var.image_owner]
  filter {
    name   = "name"
    values = [var.image_name]
  }
}

resource "aws_key_pair" "tf" {
  key_name   = "tf-key"
  public_key = var.public_key
}

resource "aws_security_group" "tf" {
  name        = "tf-sg"
  description = "terraform test group"
  vpc_id      = data.aws_vpc.default.id
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  ingress {
    from_port        = 80
    to_port          = 80
    protocol         = "tcp"
    ipv6_cidr_blocks = ["::/0"]
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_instance" "tf" {
  ami                    = data.aws_ami.test.id
  instance_type          = "m1.small"
  key_name               = aws_key_pair.tf.key_name
  vpc_security_group_ids = [aws_security_group.tf.id]
  subnet_id              = data.aws_subnets.default.ids[0]
  availability_zone      = data.aws_availability_zones.zones.names[0]
  user_data              = "#!/bin/sh\necho ${var.marker}\n"
  tags = { Name = "tf-instance" }
}

resource "aws_eip" "tf" {
  domain = "vpc"
}

resource "aws_eip_association" "tf" {
  instance_id   = aws_instance.tf.id
  allocation_id = aws_eip.tf.id
}

resource "aws_s3_bucket" "tf" {
  bucket        = var.bucket
  force_destroy = true
  tags          = { Project = "tf-test", Env = "test" }
}

resource "aws_s3_object" "tf" {
  bucket  = aws_s3_bucket.tf.id
  key     = "hello.txt"
  content = "hello from terraform\n"
  tags    = { Kind = "greeting" }
}

output "instance_id" { value = aws_instance.tf.id }
output "public_ip" { value = aws_eip.tf.public_ip }
output "group_id" { value = aws_security_group.tf.id }
output "subnet_ids" { value = data.aws_subnets.default.ids }
output "zones" { value = data.aws_availability_zones.zones.names }
