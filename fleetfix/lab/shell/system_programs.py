"""Small system programs: hostname, whoami, ipconfig, shutdown, sc."""

from __future__ import annotations

from fleetfix.lab.machine.services import ServiceKind, ServiceStatus, WindowsService
from fleetfix.lab.shell.programs import ProgramCall, ProgramResult, program


@program("hostname")
def hostname(call: ProgramCall) -> ProgramResult:
    return ProgramResult(stdout=call.machine.hostname + "\r\n")


@program("whoami")
def whoami(call: ProgramCall) -> ProgramResult:
    return ProgramResult(stdout=f"{call.machine.hostname.lower()}\\administrator\r\n")


@program("ipconfig")
def ipconfig(call: ProgramCall) -> ProgramResult:
    lines = [
        "",
        "Windows IP Configuration",
        "",
        "",
        "Ethernet adapter Ethernet:",
        "",
        "   Connection-specific DNS Suffix  . : ",
        f"   IPv4 Address. . . . . . . . . . . : {call.machine.ip_address}",
        "   Subnet Mask . . . . . . . . . . . : 255.0.0.0",
        "   Default Gateway . . . . . . . . . : ",
    ]
    return ProgramResult(stdout="".join(line + "\r\n" for line in lines))


def _option_value(args: list[str], option: str) -> str | None:
    lowered = [a.lower() for a in args]
    for flag in (f"/{option}", f"-{option}"):
        if flag in lowered and lowered.index(flag) + 1 < len(args):
            return args[lowered.index(flag) + 1]
    return None


@program("shutdown")
def shutdown(call: ProgramCall) -> ProgramResult:
    args = list(call.argv)
    flags = {a.lower().replace("-", "/") for a in args}
    delay_text = _option_value(args, "t")
    # shutdown.exe waits 30 seconds unless /t says otherwise.
    delay = float(delay_text) if delay_text is not None and delay_text.isdigit() else 30.0
    reason = _option_value(args, "c") or ""
    if "/a" in flags:
        return ProgramResult(
            stderr="Unable to abort the system shutdown because no shutdown was in "
            "progress.(1116)\r\n",
            exit_code=1116,
        )
    if "/r" in flags:
        call.machine.power.restart(reason=reason, delay=delay)
        return ProgramResult()
    if "/s" in flags:
        call.machine.power.shutdown(reason=reason, delay=delay)
        return ProgramResult()
    return ProgramResult(
        stderr="The parameter is incorrect.(87)\r\n",
        exit_code=87,
    )


_TYPE_CODES = {
    ServiceKind.KERNEL_DRIVER: "1  KERNEL_DRIVER",
    ServiceKind.WIN32_OWN_PROCESS: "10  WIN32_OWN_PROCESS",
    ServiceKind.WIN32_SHARE_PROCESS: "20  WIN32_SHARE_PROCESS",
}


def _state_block(service: WindowsService) -> str:
    status = service.status
    state = status.name
    controls = (
        "(STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)"
        if status is ServiceStatus.RUNNING and service.can_stop
        else "(NOT_STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN)"
    )
    lines = [
        "",
        f"SERVICE_NAME: {service.name}",
        f"        TYPE               : {_TYPE_CODES[service.kind]}",
        f"        STATE              : {int(status)}  {state}",
        f"                                {controls}",
        f"        WIN32_EXIT_CODE    : {service.win32_exit_code}  (0x{service.win32_exit_code:x})",
        "        SERVICE_EXIT_CODE  : 0  (0x0)",
        "        CHECKPOINT         : 0x0",
        "        WAIT_HINT          : 0x0",
    ]
    return "".join(line + "\r\n" for line in lines)


@program("sc")
def sc(call: ProgramCall) -> ProgramResult:
    args = list(call.argv)
    verb = args[0].lower() if args else ""
    table = call.machine.services
    if verb == "query" and len(args) == 1:
        running = [
            s
            for s in table.all()
            if s.status is not ServiceStatus.STOPPED and s.kind is not ServiceKind.KERNEL_DRIVER
        ]
        return ProgramResult(stdout="".join(_state_block(s) for s in running))
    if verb not in ("query", "stop", "start") or len(args) < 2:
        return ProgramResult(stderr="[SC] The parameter is incorrect.\r\n", exit_code=87)
    service = table.get(args[1])
    if service is None or service.name.lower() != args[1].lower():
        return ProgramResult(
            stdout=f"[SC] {'EnumQueryServicesStatus:' if verb == 'query' else ''}"
            "OpenService FAILED 1060:\r\n\r\n"
            "The specified service does not exist as an installed service.\r\n\r\n",
            exit_code=1060,
        )
    if verb == "query":
        return ProgramResult(stdout=_state_block(service))
    return _control(call, service, verb)


def _control(call: ProgramCall, service: WindowsService, verb: str) -> ProgramResult:
    from fleetfix.lab.machine.services import ServiceError

    table = call.machine.services
    try:
        if verb == "stop":
            if any(d.status is not ServiceStatus.STOPPED for d in table.dependents(service.name)):
                return ProgramResult(
                    stdout="[SC] ControlService FAILED 1051:\r\n\r\n"
                    "A stop control has been sent to a service that other running services "
                    "are dependent on.\r\n\r\n",
                    exit_code=1051,
                )
            table.stop(service.name, force=False)
        else:
            # A service still stopping is, to the SCM, an instance that is still running.
            if service.status in (ServiceStatus.RUNNING, ServiceStatus.STOP_PENDING):
                return ProgramResult(
                    stdout="[SC] StartService FAILED 1056:\r\n\r\n"
                    "An instance of the service is already running.\r\n\r\n",
                    exit_code=1056,
                )
            table.start(service.name)
    except ServiceError:
        if service.status is ServiceStatus.STOP_PENDING:
            # sc only sends the control; it reports STOP_PENDING and returns at once.
            return ProgramResult(stdout=_state_block(service))
        return ProgramResult(
            stdout="[SC] ControlService FAILED 1052:\r\n\r\n"
            "The requested control is not valid for this service.\r\n\r\n",
            exit_code=1052,
        )
    return ProgramResult(stdout=_state_block(service))
