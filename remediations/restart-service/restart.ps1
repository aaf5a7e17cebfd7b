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

$outcomes = @()
$failed = @()
foreach ($name in @($Params.Services)) {
    $entry = [ordered]@{ name = [string]$name; actions = @(); status = 'missing' }
    try {
        $service = Get-Service -Name $name
        $dependents = @($service.DependentServices | Where-Object { [string]$_.Status -eq 'Running' } |
            ForEach-Object { $_.Name })
        if ([string]$service.Status -eq 'StopPending') {
            $entry.actions += (Stop-StuckService $name)
        } elseif ([string]$service.Status -ne 'Stopped') {
            try {
                Stop-Service -Name $name -Force
                $entry.actions += 'stopped'
            } catch {
                if ([string](Get-Service -Name $name).Status -ne 'StopPending') { throw }
                $entry.actions += (Stop-StuckService $name)
            }
        }
        Start-Service -Name $name
        $entry.actions += 'started'
        foreach ($dependent in $dependents) {
            Start-Service -Name $dependent
            $entry.actions += "started_dependent:$dependent"
        }
        if (-not (Wait-Status $name 'Running' $timeout)) { $failed += [string]$name }
    } catch {
        $entry.error = $_.Exception.Message
        $failed += [string]$name
    }
    $current = Get-Service -Name $name -ErrorAction SilentlyContinue
    if ($current) { $entry.status = [string]$current.Status }
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
