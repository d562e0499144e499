"""CreateKeyPair's RSA generation runs off the event loop (issue 11, defect 10):
while one request generates a key, the CLC keeps answering others."""
import threading
import time

from cryptography.hazmat.primitives.asymmetric import rsa

from cloud_controller.services import keypairs

CAP_SECONDS = 5.0


def test_other_requests_are_answered_while_a_4096_bit_key_is_generated(ec2, monkeypatch):
    real = keypairs.generate
    started, answered = threading.Event(), threading.Event()
    generation = {}

    def slow_generate(key_type):
        """Real 4096-bit RSA work, repeated until another request has been answered
        (or CAP_SECONDS): on the event loop that answer cannot come, so the cap is hit."""
        started.set()
        begin = time.monotonic()
        while not answered.is_set() and time.monotonic() - begin < CAP_SECONDS:
            rsa.generate_private_key(public_exponent=65537, key_size=4096)
        generation["ended"] = time.monotonic()
        return real(key_type)

    monkeypatch.setattr(keypairs, "generate", slow_generate)
    made = {}
    creator = threading.Thread(
        target=lambda: made.update(ec2.create_key_pair(KeyName="kp-while-busy")))
    creator.start()
    try:
        assert started.wait(10)
        ec2.describe_regions()
        answered_at = time.monotonic()
        answered.set()
    finally:
        answered.set()
        creator.join(30)
    assert made["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert answered_at < generation["ended"], "DescribeRegions waited for the key generation"
    ec2.delete_key_pair(KeyName="kp-while-busy")
