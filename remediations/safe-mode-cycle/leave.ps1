# safe-mode-cycle, step leave-safe-mode: suspend BitLocker for the way back (the boot
# configuration changes again) and clear safe boot. Idempotent.
# Parameters: $Params.RebootCount (1..15).

$ErrorActionPreference = 'Stop'
$count = 1
if ($Params -and $Params.RebootCount) { $count = [int]$Params.RebootCount }
if ($count -lt 1 -or $count -gt 15) { $count = 1 }
$problems = @()

$suspended = @()
try {
    foreach ($volume in @(Get-BitLockerVolume -ErrorAction SilentlyContinue)) {
        if ([string]$volume.ProtectionStatus -eq 'On') {
            Suspend-BitLocker -MountPoint $volume.MountPoint -RebootCount $count | Out-Null
            $suspended += [string]$volume.MountPoint
        }
    }
} catch {
    $problems += "bitlocker: $($_.Exception.Message)"
}

$bcd = (bcdedit.exe /enum '{default}') -join "`n"
$cleared = $false
if ($bcd -match '(?m)^safeboot\s') {
    # 5.1 turns native stderr under 2>&1 into a terminating error when the preference is 'Stop'.
    $ErrorActionPreference = 'Continue'
    $output = bcdedit.exe /deletevalue '{default}' safeboot 2>&1
    $ErrorActionPreference = 'Stop'
    if ($LASTEXITCODE -eq 0) { $cleared = $true }
    else { $problems += "bcdedit: $(($output | ForEach-Object { "$_" }) -join ' ')" }
}
$stillSet = ((bcdedit.exe /enum '{default}') -join "`n") -match '(?m)^safeboot\s'

$ok = ($problems.Count -eq 0) -and (-not $stillSet)
$result = [pscustomobject]@{
    ok = $ok
    changed = $cleared
    reason = $(if ($ok) { 'safe boot cleared' } else { 'leave_failed' })
    safeboot_set = $stillSet
    bitlocker_suspended = $suspended
    problems = $problems
}
$result | ConvertTo-Json -Compress -Depth 5
if ($ok) { exit 0 } else { exit 1 }
