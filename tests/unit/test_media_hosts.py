"""The account's credentials go only to Twilio's media host (or TWILIO_API_URL's host)."""

from __future__ import annotations

import pytest

from bot.sms_gateway import MediaRefused, TwilioGateway

MEDIA_PATH = "/2010-04-01/Accounts/AC0/Messages/MM0/Media/ME0"


def _gateway(api_url: str = "https://api.twilio.com") -> TwilioGateway:
    return TwilioGateway(
        account_sid="AC" + "0" * 32, auth_token="secret", api_url=api_url, status_callback_url=None
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example" + MEDIA_PATH,
        "https://api.twilio.com.evil.example" + MEDIA_PATH,
        "https://api.twilio.com@evil.example" + MEDIA_PATH,
        "http://api.twilio.com" + MEDIA_PATH,  # not over TLS
        "https://api.twilio.com:8443" + MEDIA_PATH,
        "ftp://api.twilio.com" + MEDIA_PATH,
        "https://api.twilio.com:99999" + MEDIA_PATH,
        MEDIA_PATH,
        "",
    ],
)
def test_a_media_url_off_twilios_host_is_refused_before_any_request(url: str) -> None:
    with pytest.raises(MediaRefused):
        _gateway().fetch_media(url)


def test_the_host_of_twilio_api_url_is_trusted_and_no_other_loopback_name() -> None:
    gateway = _gateway("http://127.0.0.1:9")
    with pytest.raises(MediaRefused):
        gateway.fetch_media("http://localhost:9" + MEDIA_PATH)
    with pytest.raises(MediaRefused):
        gateway.fetch_media("http://127.0.0.1:10" + MEDIA_PATH)
    # Allowed: it goes on to the request (nothing listens on port 9).
    with pytest.raises(Exception) as raised:
        gateway.fetch_media("http://127.0.0.1:9" + MEDIA_PATH)
    assert not isinstance(raised.value, MediaRefused)
