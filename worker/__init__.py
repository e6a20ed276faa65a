"""Dramatiq workers: paced delivery of outbound messages (single and bulk) through the send gate."""
