"""Lightbox net layer (see docs/architecture.md)."""

from pynetdicom import _config as _pynetdicom_config

from viewer.net.uid_checks import remember_uid_checks

# Identifiers carry patient names and IDs: never in the logs (and formatting every
# C-FIND response for a debug log costs as much as decoding it).
_pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
_pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False
# pynetdicom's standard handlers describe every PDU and DIMSE message for its debug log,
# whether or not anything is logged: a third of the CPU time of a C-GET. Lightbox logs
# its own events (UIDs and peers only).
_pynetdicom_config.LOG_HANDLER_LEVEL = "none"
# The same storage SOP class and transfer syntax UIDs are checked in every association.
remember_uid_checks()
