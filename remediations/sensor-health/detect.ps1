# sensor-health detect: exit 1 unless the sensor runs and good channel content is present.
# Read-only. Parameters: $Params.Rule, $Params.RequireChannelFile.

$ErrorActionPreference = 'Stop'
$folder = "$env:SystemRoot\System32\drivers\CrowdStrike"
$badHeader = 'AAAAAAAA01002301'
$rule = 'strict'
if ($Params -and $Params.Rule) { $rule = [string]$Params.Rule }
$requireFile = $true
if ($Params -and $null -ne $Params.RequireChannelFile) { $requireFile = [bool]$Params.RequireChannelFile }

function Test-BadTime {
    param([datetime]$stamp)
    $utc = $stamp.ToUniversalTime()
    if ($rule -eq 'advisory') {
        $from = [datetimeoffset]::FromUnixTimeSeconds(1721362140).UtcDateTime
        $until = [datetimeoffset]::FromUnixTimeSeconds(1721366820).UtcDateTime
        return ($utc -ge $from -and $utc -lt $until)
    }
    return ($utc -le [datetimeoffset]::FromUnixTimeSeconds(1721370420).UtcDateTime)
}

$bad = @()
$good = @()
if (Test-Path -LiteralPath $folder) {
    foreach ($file in @(Get-ChildItem -LiteralPath $folder -Filter 'C-00000291*.sys' -File)) {
        $bytes = @(Get-Content -LiteralPath $file.FullName -Encoding Byte -TotalCount 8)
        $hex = ($bytes | ForEach-Object { ([int]$_).ToString('X2') }) -join ''
        if ((Test-BadTime $file.LastWriteTimeUtc) -and $hex -eq $badHeader) { $bad += $file.Name }
        else { $good += $file.Name }
    }
}

$services = @()
$problems = @()
foreach ($name in @('CSFalconService', 'csagent')) {
    $service = Get-Service -Name $name -ErrorAction SilentlyContinue
    $status = 'missing'
    if ($service) { $status = [string]$service.Status }
    $services += [pscustomobject]@{ name = $name; status = $status }
    if ($status -ne 'Running') { $problems += "${name}_$($status.ToLowerInvariant())" }
}
if ($bad.Count -gt 0) { $problems += 'bad_channel_file' }
if ($requireFile -and $good.Count -eq 0) { $problems += 'no_good_channel_file' }

$compliant = ($problems.Count -eq 0)
$result = [pscustomobject]@{
    compliant = $compliant
    ok = $compliant
    reason = $(if ($compliant) { 'sensor running, good channel content present' } else { $problems -join ',' })
    services = $services
    bad_files = $bad
    good_files = $good
}
$result | ConvertTo-Json -Compress -Depth 5
if ($compliant) { exit 0 } else { exit 1 }
