"""S3 error codes: one ApiError subclass per code, rendered once as S3 error XML."""
from __future__ import annotations

from mallee.errors import ApiError, error_class


def _error(code: str, status: int, message: str) -> type[ApiError]:
    return error_class(code, status, message, module=__name__)


AccessDenied = _error("AccessDenied", 403, "Access Denied")
InvalidAccessKeyId = _error(
    "InvalidAccessKeyId", 403,
    "The AWS Access Key Id you provided does not exist in our records.")
SignatureDoesNotMatch = _error(
    "SignatureDoesNotMatch", 403,
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method.")
RequestTimeTooSkewed = _error(
    "RequestTimeTooSkewed", 403,
    "The difference between the request time and the current time is too large.")
AuthorizationQueryParametersError = _error(
    "AuthorizationQueryParametersError", 400,
    "Query-string authentication parameters are malformed.")
AuthorizationHeaderMalformed = _error(
    "AuthorizationHeaderMalformed", 400, "The authorization header is malformed.")
MissingSecurityHeader = _error("MissingSecurityHeader", 400,
                               "Your request is missing a required header.")
NoSuchBucket = _error("NoSuchBucket", 404, "The specified bucket does not exist")
NoSuchKey = _error("NoSuchKey", 404, "The specified key does not exist.")
NoSuchVersion = _error(
    "NoSuchVersion", 404,
    "The specified version does not exist.")
IllegalVersioningConfigurationException = _error(
    "IllegalVersioningConfigurationException", 400,
    "The Versioning element must be specified")
NoSuchUpload = _error(
    "NoSuchUpload", 404,
    "The specified upload does not exist. The upload ID may be invalid, or the upload "
    "may have been aborted or completed.")
BucketAlreadyExists = _error(
    "BucketAlreadyExists", 409,
    "The requested bucket name is not available. The bucket namespace is shared by all "
    "users of the system. Please select a different name and try again.")
BucketAlreadyOwnedByYou = _error(
    "BucketAlreadyOwnedByYou", 409,
    "Your previous request to create the named bucket succeeded and you already own it.")
BucketNotEmpty = _error("BucketNotEmpty", 409,
                        "The bucket you tried to delete is not empty")
InvalidBucketName = _error("InvalidBucketName", 400, "The specified bucket is not valid.")
KeyTooLongError = _error("KeyTooLongError", 400, "Your key is too long")
TooManyBuckets = _error("TooManyBuckets", 400,
                        "You have attempted to create more buckets than allowed")
QuotaExceeded = _error("QuotaExceeded", 403,
                       "This upload would exceed the account's storage quota.")
EntityTooSmall = _error("EntityTooSmall", 400,
                        "Your proposed upload is smaller than the minimum allowed object size.")
EntityTooLarge = _error("EntityTooLarge", 400,
                        "Your proposed upload exceeds the maximum allowed object size.")
InvalidPart = _error(
    "InvalidPart", 400,
    "One or more of the specified parts could not be found. The part might not have been "
    "uploaded, or the specified entity tag might not have matched the part's entity tag.")
InvalidPartOrder = _error(
    "InvalidPartOrder", 400,
    "The list of parts was not in ascending order. Parts must be ordered by part number.")
InvalidRange = _error("InvalidRange", 416, "The requested range is not satisfiable")
InvalidPartNumber = _error("InvalidPartNumber", 416,
                           "The requested partnumber is not satisfiable")
InvalidBucketState = _error("InvalidBucketState", 409,
                            "The request is not valid with the current state of the bucket.")
# GetObjectRetention/GetObjectLegalHold of a version that has none.
NoSuchObjectLockConfiguration = _error(
    "NoSuchObjectLockConfiguration", 404,
    "The specified object does not have a ObjectLock configuration")
PreconditionFailed = _error(
    "PreconditionFailed", 412, "At least one of the preconditions you specified did not hold.")
BadDigest = _error("BadDigest", 400,
                   "The Content-MD5 or checksum you specified did not match what we received.")
InvalidDigest = _error("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")
XAmzContentSHA256Mismatch = _error(
    "XAmzContentSHA256Mismatch", 400,
    "The provided 'x-amz-content-sha256' header does not match what was computed.")
IncompleteBody = _error(
    "IncompleteBody", 400,
    "You did not provide the number of bytes specified by the Content-Length HTTP header.")
MalformedXML = _error(
    "MalformedXML", 400,
    "The XML you provided was not well-formed or did not validate against our published "
    "schema.")
MalformedACLError = _error(
    "MalformedACLError", 400,
    "The XML you provided was not well-formed or did not validate against our published "
    "schema.")
InvalidArgument = _error("InvalidArgument", 400, "Invalid Argument")
InvalidTag = _error("InvalidTag", 400,
                    "Your request contains tag input that is not valid. For example, your "
                    "request might contain duplicate keys, keys or values that are too long, "
                    "or system tags.")
BadRequest = _error("BadRequest", 400, "Bad Request")
InvalidRequest = _error("InvalidRequest", 400, "Invalid Request")
# A CORS preflight no rule allows (S3's wire code; its error table does not list it).
AccessForbidden = _error("AccessForbidden", 403,
                         "CORSResponse: This CORS request is not allowed.")
MissingContentLength = _error("MissingContentLength", 411,
                              "You must provide the Content-Length HTTP header.")
MethodNotAllowed = _error("MethodNotAllowed", 405,
                          "The specified method is not allowed against this resource.")
NotImplemented_ = _error("NotImplemented", 501,
                         "A header or query you provided implies functionality that is not "
                         "implemented.")
UnresolvableGrantByEmailAddress = _error(
    "UnresolvableGrantByEmailAddress", 400,
    "The email address you provided does not match any account on record.")
# Browser uploads (POST Object with an HTML form).
InvalidPolicyDocument = _error("InvalidPolicyDocument", 400,
                               "The content of the form does not meet the conditions "
                               "specified in the policy document.")
MalformedPOSTRequest = _error("MalformedPOSTRequest", 400,
                              "The body of your POST request is not well-formed "
                              "multipart/form-data.")
MaxPostPreDataLengthExceededError = _error(
    "MaxPostPreDataLengthExceededError", 400,
    "Your POST request fields preceding the upload file were too large.")
MalformedPolicy = _error("MalformedPolicy", 400,
                         "Policies must be valid JSON and the first byte must be '{'")
# S3 documents the 20 KiB limit but no code for it; MinIO's, which S3 tools know.
PolicyTooLarge = _error("PolicyTooLarge", 400,
                        "Policy exceeds the maximum allowed document size.")
AccessControlListNotSupported = _error("AccessControlListNotSupported", 400,
                                       "The bucket does not allow ACLs")
InvalidBucketAclWithObjectOwnership = _error(
    "InvalidBucketAclWithObjectOwnership", 400,
    "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
InternalError = _error("InternalError", 500,
                       "We encountered an internal error. Please try again.")

# "This bucket has no such configuration": what Ansible's s3_bucket and the
# AWS SDKs expect from a bucket that never had the setting.
NoSuchBucketPolicy = _error("NoSuchBucketPolicy", 404, "The bucket policy does not exist")
NoSuchTagSet = _error("NoSuchTagSet", 404, "The TagSet does not exist")
ServerSideEncryptionConfigurationNotFoundError = _error(
    "ServerSideEncryptionConfigurationNotFoundError", 404,
    "The server side encryption configuration was not found")
NoSuchPublicAccessBlockConfiguration = _error(
    "NoSuchPublicAccessBlockConfiguration", 404,
    "The public access block configuration was not found")
OwnershipControlsNotFoundError = _error(
    "OwnershipControlsNotFoundError", 404, "The bucket ownership controls were not found")
ObjectLockConfigurationNotFoundError = _error(
    "ObjectLockConfigurationNotFoundError", 404,
    "Object Lock configuration does not exist for this bucket")
NoSuchCORSConfiguration = _error("NoSuchCORSConfiguration", 404,
                                 "The CORS configuration does not exist")
NoSuchLifecycleConfiguration = _error("NoSuchLifecycleConfiguration", 404,
                                      "The lifecycle configuration does not exist")
NoSuchWebsiteConfiguration = _error("NoSuchWebsiteConfiguration", 404,
                                    "The specified bucket does not have a website configuration")
ReplicationConfigurationNotFoundError = _error(
    "ReplicationConfigurationNotFoundError", 404, "The replication configuration was not found")


def with_headers(err: ApiError, headers: dict) -> ApiError:
    """`err`, answered with these response headers too (x-amz-delete-marker...)."""
    err.headers = {**getattr(err, "headers", {}), **headers}
    return err


class NotModified(ApiError):
    """304 is not an error to S3 clients, but it ends the request the same way."""
    code = "NotModified"
    status = 304
    default_message = "Not Modified"
InvalidEncryptionAlgorithmError = _error(
    "InvalidEncryptionAlgorithmError", 400,
    "The Encryption request you specified is not valid. Supported value: AES256.")
