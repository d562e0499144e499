from dataclasses import dataclass
from typing import ClassVar

import pytest
import xmltodict

from mallee import errors
from cloud_controller.api.query import Filter, TagSpecification, listparam, param, parse
from cloud_controller.api.render import render, render_ec2_error


@dataclass
class Req:
    names: list[str] = listparam("KeyName")
    filters: list[Filter] = listparam("Filter")
    count: int = param("MaxCount")
    required: str = param("ImageId", required=True)
    dry_run: bool = param("DryRun", default=False)
    specs: list[TagSpecification] = listparam("TagSpecification")


def test_lists_and_structures_parse_in_index_order():
    req = parse(Req, {"ImageId": "ami-1", "KeyName.2": "b", "KeyName.10": "c", "KeyName.1": "a",
                      "Filter.1.Name": "tag:x", "Filter.1.Value.2": "2", "Filter.1.Value.1": "1",
                      "TagSpecification.1.ResourceType": "instance",
                      "TagSpecification.1.Tag.1.Key": "k", "TagSpecification.1.Tag.1.Value": "v",
                      "MaxCount": "3", "DryRun": "TRUE"})
    assert req.names == ["a", "b", "c"]
    assert req.filters == [Filter("tag:x", ["1", "2"])]
    assert req.count == 3 and req.dry_run is True
    assert req.specs[0].resource_type == "instance" and req.specs[0].tags[0].key == "k"


def test_missing_required_parameter():
    with pytest.raises(errors.MissingParameter, match="ImageId"):
        parse(Req, {})


@pytest.mark.parametrize("field,value", [("MaxCount", "ten"), ("DryRun", "maybe")])
def test_malformed_values(field, value):
    with pytest.raises(errors.InvalidParameterValue):
        parse(Req, {"ImageId": "ami-1", field: value})


def test_filter_without_a_name_is_missing_parameter():
    with pytest.raises(errors.MissingParameter):
        parse(Req, {"ImageId": "ami-1", "Filter.1.Value.1": "x"})


def test_render_wraps_lists_in_items_and_drops_none():
    doc = xmltodict.parse(render("DescribeThingsResponse",
                                 {"thingSet": [{"id": "a", "ok": True, "gone": None}],
                                  "emptySet": []}, "rid-1"))
    body = doc["DescribeThingsResponse"]
    assert body["@xmlns"] == "http://ec2.amazonaws.com/doc/2016-11-15/"
    assert body["requestId"] == "rid-1"
    assert body["thingSet"]["item"] == {"id": "a", "ok": "true"}
    assert body["emptySet"] is None


def test_error_xml_has_code_message_and_request_id():
    doc = xmltodict.parse(render_ec2_error(errors.InvalidKeyPairNotFound("nope"), "rid-2"))
    assert doc["Response"]["Errors"]["Error"] == {"Code": "InvalidKeyPair.NotFound",
                                                  "Message": "nope"}
    assert doc["Response"]["RequestID"] == "rid-2"
    assert errors.InvalidKeyPairNotFound.status == 400
    assert errors.AuthFailure.status == 401


def test_a_parameter_the_action_does_not_take_is_unknown():
    with pytest.raises(errors.UnknownParameter, match="^The parameter KeyNmae is not recognized$"):
        parse(Req, {"ImageId": "ami-1", "KeyNmae.1": "a"})
    with pytest.raises(errors.UnknownParameter, match="Filters"):
        parse(Req, {"ImageId": "ami-1", "Filters.1.Name": "x"})


def test_signing_and_protocol_parameters_and_ignored_ones_are_known():
    @dataclass
    class Taking:
        image: str = param("ImageId")
        IGNORED: ClassVar[tuple[str, ...]] = ("Monitoring",)

    parse(Taking, {"Action": "RunInstances", "Version": "2016-11-15", "AWSAccessKeyId": "AK",
                   "SignatureVersion": "2", "SignatureMethod": "HmacSHA256", "Signature": "s",
                   "Timestamp": "t", "Expires": "e", "SecurityToken": "tok",
                   "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "c",
                   "X-Amz-Date": "d", "X-Amz-SignedHeaders": "host", "X-Amz-Signature": "s",
                   "Monitoring.Enabled": "false", "ImageId": "ami-1"})
