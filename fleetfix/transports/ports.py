"""Which port a transport uses for a host: the inventory's port when the inventory names this
transport, else a `<service>_port=` tag (the lab's CSV carries them), else the default."""

from __future__ import annotations

from fleetfix.models import Host, Transport

_PORT_TAGS = {
    Transport.WINRM: "winrm_port",
    Transport.PSRP: "winrm_port",
    Transport.WINRM_HTTPS: "winrms_port",
    Transport.PSRP_HTTPS: "winrms_port",
    Transport.SSH: "ssh_port",
}
_SAME_LISTENER = {
    Transport.WINRM: Transport.PSRP,
    Transport.PSRP: Transport.WINRM,
    Transport.WINRM_HTTPS: Transport.PSRP_HTTPS,
    Transport.PSRP_HTTPS: Transport.WINRM_HTTPS,
}


def port_for(host: Host, transport: Transport) -> int:
    if host.port is not None and host.transport in {transport, _SAME_LISTENER.get(transport)}:
        return host.port
    tagged = host.tag_value(_PORT_TAGS[transport])
    if tagged is not None and tagged.isdigit():
        return int(tagged)
    default = transport.default_port
    assert default is not None, transport
    return default
