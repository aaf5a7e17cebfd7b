# safe-mode-cycle verify: booted normally, safe boot cleared, no bad channel 291 file, sensor
# running, and BitLocker protection back on where the volume is encrypted.
# Parameters: $Params.Rule ('strict' or 'advisory', as for crowdstrike-291).

$ErrorActionPreference = 'Stop'
$folder = "$env:SystemRoot\System32\drivers\CrowdStrike"
$badHeader = 'AAAAAAAA01002301'
$rule = 'strict'
if ($Params -and $Params.Rule) { $rule = [string]$Params.Rule }

# The same rule as crowdstrike-291 (its Test-BadTime), so a file the inner fix keeps on
# purpose is not reported as left over.
function Test-BadTime {
    param([datetime]$stamp)
    # strict: CrowdStrike's script, good only after 2024-07-19 06:27 UTC (epoch 1721370420).
    # advisory: bad from 04:09 UTC up to, not including, 05:27 UTC.
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

$inSafeMode = Test-Path -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\SafeBoot\Option'
$safeBootSet = ((bcdedit.exe /enum '{default}') -join "`n") -match '(?m)^safeboot\s'
$bad = @()
if (Test-Path -LiteralPath $folder) {
    foreach ($file in @(Get-ChildItem -LiteralPath $folder -Filter 'C-00000291*.sys' -File)) {
        # Belt and braces: the file must sit directly in the folder, whatever -Filter matched.
        if ($file.DirectoryName -ne $folder) { continue }
        # -Filter also matches 8.3 short names: the long name must match too.
        if ($file.Name -notlike 'C-00000291*.sys') { continue }
        if ((Test-BadTime $file.LastWriteTimeUtc) -and (Get-Header $file.FullName) -eq $badHeader) {
            $bad += $file.Name
        }
    }
}
$sensor = Get-Service -Name 'CSFalconService' -ErrorAction SilentlyContinue
$sensorStatus = 'missing'
if ($sensor) { $sensorStatus = [string]$sensor.Status }
$suspended = @()
foreach ($volume in @(Get-BitLockerVolume -ErrorAction SilentlyContinue)) {
    if ([string]$volume.VolumeStatus -eq 'FullyEncrypted' -and [string]$volume.ProtectionStatus -ne 'On') {
        $suspended += [string]$volume.MountPoint
    }
}

$reasons = @()
if ($inSafeMode) { $reasons += 'still_in_safe_mode' }
if ($safeBootSet) { $reasons += 'safeboot_still_set' }
if ($bad.Count -gt 0) { $reasons += 'bad_files_left' }
if ($sensor -and $sensorStatus -ne 'Running') { $reasons += 'sensor_not_running' }
# Suspension ends by itself after the counted reboots; reported, not a failure.
$ok = ($reasons.Count -eq 0)
$result = [pscustomobject]@{
    ok = $ok
    reason = $(if ($ok) { 'normal boot, safe boot cleared, no bad channel file' } else { $reasons -join ',' })
    in_safe_mode = $inSafeMode
    safeboot_set = $safeBootSet
    rule = $rule
    remaining = $bad
    sensor_status = $sensorStatus
    bitlocker_suspended = $suspended
}
$result | ConvertTo-Json -Compress -Depth 5
if ($ok) { exit 0 } else { exit 1 }
