"""The CLC's services wired together once per process (built by app.open_cloud)."""
from __future__ import annotations

from dataclasses import dataclass

from cloud_controller.db.database import Database
from cloud_controller.services.accounts import AccountService
from cloud_controller.services.addresses import AddressService
from cloud_controller.services.clusters import ClusterMonitor
from cloud_controller.services.image_capture import ImageCapture
from cloud_controller.services.images import ImageService
from cloud_controller.services.instance_attributes import InstanceAttributeService
from cloud_controller.services.instances import InstanceService
from cloud_controller.services.keypairs import KeyPairService
from cloud_controller.services.launcher import Launcher
from cloud_controller.services.metrics import MetricsService
from cloud_controller.services.network_view import NetworkViews
from cloud_controller.services.network_acls import NetworkAclService
from cloud_controller.services.network_interfaces import NetworkInterfaceService
from cloud_controller.services.ovn_sync import OvnSync
from cloud_controller.services.vpc_attributes import VpcAttributeService
from cloud_controller.services.security_groups import SecurityGroupService
from cloud_controller.services.tags import TagService
from cloud_controller.services.attachments import AttachmentService
from cloud_controller.services.snapshots import SnapshotService
from cloud_controller.services.volumes import VolumeService
from cloud_controller.services.vpcs import VpcService
from cloud_controller.services.vpc_parts import VpcParts
from cloud_controller.services.walrus_sync import WalrusSync
from mallee.settings import Settings


@dataclass
class Cloud:
    settings: Settings
    db: Database
    accounts: AccountService
    keypairs: KeyPairService
    tags: TagService
    clusters: ClusterMonitor
    walrus: WalrusSync
    images: ImageService
    instances: InstanceService
    launcher: Launcher
    # EDGE networking
    vpcs: VpcService
    security_groups: SecurityGroupService
    addresses: AddressService
    network: NetworkViews
    # EBS
    volumes: VolumeService
    attachments: AttachmentService
    snapshots: SnapshotService
    instance_attributes: InstanceAttributeService
    image_capture: ImageCapture
    # VPC mode: OVN's NB database following the VPC model (None in EDGE mode)
    ovn: OvnSync | None = None
    network_acls: NetworkAclService | None = None  # own VPCs' network ACLs
    vpc_attributes: VpcAttributeService | None = None  # and their attributes, CIDR blocks
    # VPC mode: own VPCs' gateways, route tables, NAT gateways, DHCP option sets
    vpc_parts: VpcParts | None = None
    # network interfaces of own subnets (vpc mode)
    network_interfaces: NetworkInterfaceService | None = None
    metrics: MetricsService | None = None  # CloudWatch (services/metrics.py)
