# safe-mode-cycle verify: booted normally, safe boot cleared, no bad channel 291 file, sensor
# running, and BitLocker protection back on where the volume is encrypted.

$ErrorActionPreference = 'Stop'
$folder = "$env:SystemRoot\System32\drivers\CrowdStrike"
$badHeader = 'AAAAAAAA01002301'

$inSafeMode = Test-Path -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\SafeBoot\Option'
$safeBootSet = ((bcdedit.exe /enum '{default}') -join "`n") -match '(?m)^safeboot\s'
$bad = @()
if (Test-Path -LiteralPath $folder) {
    foreach ($file in @(Get-ChildItem -LiteralPath $folder -Filter 'C-00000291*.sys' -File)) {
        $bytes = @(Get-Content -LiteralPath $file.FullName -Encoding Byte -TotalCount 8)
        $hex = ($bytes | ForEach-Object { ([int]$_).ToString('X2') }) -join ''
        if ($hex -eq $badHeader) { $bad += $file.Name }
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
    remaining = $bad
    sensor_status = $sensorStatus
    bitlocker_suspended = $suspended
}
$result | ConvertTo-Json -Compress -Depth 5
if ($ok) { exit 0 } else { exit 1 }
