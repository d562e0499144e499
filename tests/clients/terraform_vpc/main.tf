# VPC mode's routing with Terraform: a VPC, a public subnet, an internet gateway,
# a route table with a default route to it, associated with the subnet, a route
# added to the VPC's main table as a separate aws_route, and a private subnet
# routed to a NAT gateway with an elastic IP.
resource "aws_vpc" "lab" {
  cidr_block = "10.70.0.0/16"
  tags       = { Name = "tf-vpc" }
}

resource "aws_subnet" "public" {
  vpc_id     = aws_vpc.lab.id
  cidr_block = "10.70.1.0/24"
  tags       = { Name = "tf-public" }
}

resource "aws_internet_gateway" "gw" {
  vpc_id = aws_vpc.lab.id
  tags   = { Name = "tf-igw" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.lab.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.gw.id
  }
  tags = { Name = "tf-public-rt" }
}

resource "aws_route_table_association" "public" {
  subnet_id      = aws_subnet.public.id
  route_table_id = aws_route_table.public.id
}

resource "aws_route" "main_default" {
  route_table_id         = aws_vpc.lab.main_route_table_id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.gw.id
}

# A private subnet whose default route goes to a NAT gateway in the public one.
resource "aws_subnet" "private" {
  vpc_id     = aws_vpc.lab.id
  cidr_block = "10.70.2.0/24"
}

resource "aws_eip" "nat" {
  domain = "vpc"
}

resource "aws_nat_gateway" "out" {
  subnet_id     = aws_subnet.public.id
  allocation_id = aws_eip.nat.id
  tags          = { Name = "tf-nat" }
  depends_on    = [aws_internet_gateway.gw]
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.lab.id
  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.out.id
  }
}

resource "aws_route_table_association" "private" {
  subnet_id      = aws_subnet.private.id
  route_table_id = aws_route_table.private.id
}

output "nat_id" { value = aws_nat_gateway.out.id }
output "eip" { value = aws_eip.nat.public_ip }
output "vpc_id" { value = aws_vpc.lab.id }
output "route_table_id" { value = aws_route_table.public.id }
output "main_route_table_id" { value = aws_vpc.lab.main_route_table_id }
output "igw_id" { value = aws_internet_gateway.gw.id }
output "subnet_id" { value = aws_subnet.public.id }
