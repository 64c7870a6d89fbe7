"""The dev phone: with no Twilio credentials, a page at /phone shows one simulated handset
per number the built-in carrier has texted or been texted by, and lets you text the bot as
the customer (through the carrier and the bot's own signed webhook)."""

from bot.dev_phone.app import DevPhone, DevPhoneLine

__all__ = ["DevPhone", "DevPhoneLine"]
