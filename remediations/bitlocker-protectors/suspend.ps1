# bitlocker-protectors, step suspend: suspend protection on protected volumes for RebootCount
# reboots, when $Params.Suspend is true. RebootCount 0 would mean "until resumed": refused.
# Parameters: $Params.Suspend, $Params.RebootCount.

$ErrorActionPreference = 'Stop'
$count = 1
if ($null -ne $Params.RebootCount) { $count = [int]$Params.RebootCount }

$suspended = @()
$failed = @()
$reason = 'suspend not requested'
if ($count -lt 1 -or $count -gt 15) {
    $failed += "RebootCount $count is outside 1..15"
    $reason = 'bad_reboot_count'
} elseif ([bool]$Params.Suspend) {
    foreach ($volume in @(Get-BitLockerVolume)) {
        if ([string]$volume.ProtectionStatus -ne 'On') { continue }
        try {
            Suspend-BitLocker -MountPoint $volume.MountPoint -RebootCount $count | Out-Null
            $suspended += [string]$volume.MountPoint
        } catch {
            $failed += "$($volume.MountPoint): $($_.Exception.Message)"
        }
    }
    $reason = "suspended $($suspended.Count) volume(s) for $count reboot(s)"
}

$ok = ($failed.Count -eq 0)
if (-not $ok -and $reason -ne 'bad_reboot_count') { $reason = 'suspend_failed' }
$result = [pscustomobject]@{
    ok = $ok
    changed = ($suspended.Count -gt 0)
    reason = $reason
    suspended = $suspended
    reboot_count = $count
    errors = $failed
}
$result | ConvertTo-Json -Compress -Depth 5
if ($ok) { exit 0 } else { exit 1 }
