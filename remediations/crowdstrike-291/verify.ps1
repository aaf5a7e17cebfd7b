# crowdstrike-291 verify: no bad channel 291 file left, and the sensor runs.
# Parameters: $Params.Rule, $Params.RequireSensorRunning (false inside safe mode).

$ErrorActionPreference = 'Stop'
$folder = "$env:SystemRoot\System32\drivers\CrowdStrike"
$badHeader = 'AAAAAAAA01002301'
$rule = 'strict'
$needSensor = $true
if ($Params -and $Params.Rule) { $rule = [string]$Params.Rule }
if ($Params -and $null -ne $Params.RequireSensorRunning) { $needSensor = [bool]$Params.RequireSensorRunning }

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

function Get-Header {
    param([string]$path)
    $bytes = @(Get-Content -LiteralPath $path -Encoding Byte -TotalCount 8)
    return (($bytes | ForEach-Object { ([int]$_).ToString('X2') }) -join '')
}

$left = @()
if (Test-Path -LiteralPath $folder) {
    foreach ($file in @(Get-ChildItem -LiteralPath $folder -Filter 'C-00000291*.sys' -File)) {
        # Belt and braces: the file must sit directly in the folder, whatever -Filter matched.
        if ($file.DirectoryName -ne $folder) { continue }
        # -Filter also matches 8.3 short names: the long name must match too.
        if ($file.Name -notlike 'C-00000291*.sys') { continue }
        if ((Test-BadTime $file.LastWriteTimeUtc) -and (Get-Header $file.FullName) -eq $badHeader) {
            $left += $file.Name
        }
    }
}

$sensor = Get-Service -Name 'CSFalconService' -ErrorAction SilentlyContinue
$sensorStatus = 'missing'
if ($sensor) { $sensorStatus = [string]$sensor.Status }
$sensorOk = (-not $needSensor) -or ($sensorStatus -eq 'Running')
$ok = ($left.Count -eq 0) -and $sensorOk
$reason = 'no bad channel 291 file left; sensor ' + $sensorStatus
if ($left.Count -gt 0) { $reason = 'bad_files_left' }
elseif (-not $sensorOk) { $reason = 'sensor_not_running' }
$result = [pscustomobject]@{
    ok = $ok
    reason = $reason
    remaining = $left
    sensor_status = $sensorStatus
}
$result | ConvertTo-Json -Compress -Depth 5
if ($ok) { exit 0 } else { exit 1 }
