"""Lab results connector: HL7 v2 ORU^R01 from a lab's SIL to CR-BIO documents over MSSanté.

The package tree follows the data::

    intake/ → parse/ → mapping/ → cda/ → package/ → send/ → track/
                          store/ is the only durable state; pipeline.py runs the stages in order.
"""

__version__ = "0.1.0"
