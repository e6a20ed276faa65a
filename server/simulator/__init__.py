"""The simulated WhatsApp network behind the `simulator` engine."""
