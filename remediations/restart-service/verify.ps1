# restart-service verify: every named service reaches Running within TimeoutSeconds.
# Parameters: $Params.Services, $Params.TimeoutSeconds.

$ErrorActionPreference = 'Stop'
$timeout = 60
if ($Params.TimeoutSeconds) { $timeout = [int]$Params.TimeoutSeconds }

function Get-NotRunning {
    $names = @()
    foreach ($name in @($Params.Services)) {
        $service = Get-Service -Name $name -ErrorAction SilentlyContinue
        if (-not $service -or [string]$service.Status -ne 'Running') { $names += [string]$name }
    }
    return $names
}

$deadline = (Get-Date).AddSeconds($timeout)
$notRunning = @(Get-NotRunning)
while ($notRunning.Count -gt 0 -and (Get-Date) -lt $deadline) {
    Start-Sleep -Seconds 1
    $notRunning = @(Get-NotRunning)
}

$ok = ($notRunning.Count -eq 0)
$result = [pscustomobject]@{
    ok = $ok
    reason = $(if ($ok) { 'all services running' } else { 'not_running' })
    not_running = $notRunning
}
$result | ConvertTo-Json -Compress -Depth 5
if ($ok) { exit 0 } else { exit 1 }
