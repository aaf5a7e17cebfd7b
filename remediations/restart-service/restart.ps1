# restart-service, step restart. Parameters: $Params.Services, $Params.TimeoutSeconds.

$ErrorActionPreference = 'Stop'
$timeout = 60
if ($Params.TimeoutSeconds) { $timeout = [int]$Params.TimeoutSeconds }

function Wait-Status {
    param([string]$name, [string]$wanted, [int]$seconds)
    $deadline = (Get-Date).AddSeconds($seconds)
    while ((Get-Date) -lt $deadline) {
        if ([string](Get-Service -Name $name).Status -eq $wanted) { return $true }
        Start-Sleep -Seconds 1
    }
    return ([string](Get-Service -Name $name).Status -eq $wanted)
}

function Stop-StuckService {
    # A service in StopPending never finishes by itself; end its process, unless other
    # services share it (ending an svchost group takes them all down).
    param([string]$name)
    $info = Get-CimInstance -ClassName Win32_Service | Where-Object { $_.Name -eq $name }
    if (-not $info -or -not $info.ProcessId) { return 'no_process' }
    $processId = $info.ProcessId
    $sharing = @(Get-CimInstance -ClassName Win32_Service | Where-Object { $_.ProcessId -eq $processId })
    if ($sharing.Count -gt 1) { return 'shared_process' }
    Stop-Process -Id $processId -Force
    return 'process_ended'
}

function Get-Status {
    param([string]$name)
    $service = Get-Service -Name $name -ErrorAction SilentlyContinue
    if ($service) { return [string]$service.Status }
    return 'missing'
}

$outcomes = @()
$failed = @()
foreach ($name in @($Params.Services)) {
    $entry = [ordered]@{ name = [string]$name; actions = @(); status = 'missing'; dependents = @() }
    $dependents = @()
    try {
        $service = Get-Service -Name $name
        $dependents = @($service.DependentServices | Where-Object { [string]$_.Status -eq 'Running' } |
            ForEach-Object { [string]$_.Name })
        # Dependants first: ending a process under a running dependant leaves it bound to a
        # service that is gone. They are started again once the service runs.
        foreach ($dependent in $dependents) {
            Stop-Service -Name $dependent -Force
            $entry.actions += "stopped_dependent:$dependent"
        }
        $status = Get-Status $name
        if ($status -eq 'StopPending') {
            $entry.actions += (Stop-StuckService $name)
        } elseif ($status -ne 'Stopped') {
            try {
                Stop-Service -Name $name -Force
                $entry.actions += 'stopped'
            } catch {
                if ((Get-Status $name) -ne 'StopPending') { throw }
                $entry.actions += (Stop-StuckService $name)
            }
        }
        if ($entry.actions -contains 'shared_process') {
            throw "$name is StopPending in a process other services share: left alone"
        }
        # An ended process is gone at once, but the service control manager reports Stopped
        # only once it notices; Start-Service on a service still in StopPending fails.
        if (-not (Wait-Status $name 'Stopped' $timeout)) {
            throw "$name did not reach Stopped within $timeout s (it is $(Get-Status $name))"
        }
        if ($entry.actions[-1] -eq 'process_ended') { $entry.actions += 'stopped' }
        Start-Service -Name $name
        $entry.actions += 'started'
        # EnumDependentServices lists dependants in reverse start order: start them backwards.
        for ($i = $dependents.Count - 1; $i -ge 0; $i--) {
            Start-Service -Name $dependents[$i]
            $entry.actions += "started_dependent:$($dependents[$i])"
        }
        if (-not (Wait-Status $name 'Running' $timeout)) { $failed += [string]$name }
    } catch {
        $entry.error = $_.Exception.Message
        $failed += [string]$name
    }
    $entry.status = Get-Status $name
    foreach ($dependent in $dependents) {
        $entry.dependents += [pscustomobject]@{ name = $dependent; status = (Get-Status $dependent) }
    }
    $outcomes += [pscustomobject]$entry
}

$ok = ($failed.Count -eq 0)
$result = [pscustomobject]@{
    ok = $ok
    changed = $true
    reason = $(if ($ok) { 'all services running' } else { 'not_running' })
    failed = $failed
    services = $outcomes
}
$result | ConvertTo-Json -Compress -Depth 5
if ($ok) { exit 0 } else { exit 1 }
