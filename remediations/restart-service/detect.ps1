# restart-service detect: exit 1 when a named service is not Running. Read-only.
# Parameters: $Params.Services (names).

$ErrorActionPreference = 'Stop'
$states = @()
$notRunning = @()
foreach ($name in @($Params.Services)) {
    $service = Get-Service -Name $name -ErrorAction SilentlyContinue
    $status = 'missing'
    if ($service) { $status = [string]$service.Status }
    $states += [pscustomobject]@{ name = [string]$name; status = $status }
    if ($status -ne 'Running') { $notRunning += [string]$name }
}
$compliant = ($notRunning.Count -eq 0)
$result = [pscustomobject]@{
    compliant = $compliant
    not_running = $notRunning
    services = $states
}
$result | ConvertTo-Json -Compress -Depth 5
if ($compliant) { exit 0 } else { exit 1 }
