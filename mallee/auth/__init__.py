"""Request authentication shared by the EC2 front door and Walrus."""
from mallee.auth.credentials import Credential, CredentialLookup

__all__ = ["Credential", "CredentialLookup"]
