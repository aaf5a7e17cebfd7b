# sensor-health, step start-sensor: start CSFalconService if it is not running. The driver
# (csagent) starts at boot and cannot be started from here; its state is reported.

$ErrorActionPreference = 'Stop'
$actions = @()
$problems = @()
$service = Get-Service -Name 'CSFalconService' -ErrorAction SilentlyContinue
if (-not $service) {
    $problems += 'sensor_not_installed'
} elseif ([string]$service.Status -ne 'Running') {
    try {
        Start-Service -Name 'CSFalconService'
        $actions += 'started CSFalconService'
    } catch {
        $problems += "start_failed: $($_.Exception.Message)"
    }
}
$driver = Get-Service -Name 'csagent' -ErrorAction SilentlyContinue
$driverStatus = 'missing'
if ($driver) { $driverStatus = [string]$driver.Status }
$sensorStatus = 'missing'
$now = Get-Service -Name 'CSFalconService' -ErrorAction SilentlyContinue
if ($now) { $sensorStatus = [string]$now.Status }

$ok = ($problems.Count -eq 0) -and ($sensorStatus -eq 'Running')
$result = [pscustomobject]@{
    ok = $ok
    changed = ($actions.Count -gt 0)
    reason = $(if ($ok) { 'sensor running' } else { 'sensor_not_running' })
    actions = $actions
    problems = $problems
    sensor_status = $sensorStatus
    driver_status = $driverStatus
}
$result | ConvertTo-Json -Compress -Depth 5
if ($ok) { exit 0 } else { exit 1 }
