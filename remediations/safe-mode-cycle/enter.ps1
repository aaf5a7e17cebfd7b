# safe-mode-cycle, step enter-safe-mode. Reports every change it made, so a host that does not
# come back is handed over with its state stated plainly. Idempotent: safe to run again.
# Parameters: $Params.RebootCount (1..15).

$ErrorActionPreference = 'Stop'
$count = 1
if ($Params -and $Params.RebootCount) { $count = [int]$Params.RebootCount }
if ($count -lt 1 -or $count -gt 15) { $count = 1 }
$changes = @()
$problems = @()

# WinRM starts in safe mode only when listed under SafeBoot\Network (value (Default) = Service).
$winrmKey = 'HKLM:\SYSTEM\CurrentControlSet\Control\SafeBoot\Network\WinRM'
try {
    if (-not (Test-Path -Path $winrmKey)) {
        New-Item -Path $winrmKey -Force | Out-Null
        $changes += 'winrm_listed_for_safe_mode'
    }
    Set-ItemProperty -Path $winrmKey -Name '(Default)' -Value 'Service'
} catch {
    $problems += "winrm_safeboot: $($_.Exception.Message)"
}

# Changing the boot configuration makes a protected volume ask for its recovery key.
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
if ($suspended.Count -gt 0) { $changes += 'bitlocker_suspended' }

$safeBootSet = $false
if ($problems.Count -eq 0) {
    # Windows PowerShell 5.1 turns native stderr under 2>&1 into a terminating error when
    # the preference is 'Stop'; the exit code is what we judge by.
    $ErrorActionPreference = 'Continue'
    $output = bcdedit.exe /set '{default}' safeboot network 2>&1
    $ErrorActionPreference = 'Stop'
    if ($LASTEXITCODE -eq 0) {
        $safeBootSet = $true
        $changes += 'safeboot_network_set'
    } else {
        $problems += "bcdedit: $(($output | ForEach-Object { "$_" }) -join ' ')"
    }
}

$ok = ($problems.Count -eq 0) -and $safeBootSet
$result = [pscustomobject]@{
    ok = $ok
    changed = ($changes.Count -gt 0)
    reason = $(if ($ok) { 'safe boot with networking set' } else { 'enter_failed' })
    changes = $changes
    bitlocker_suspended = $suspended
    safeboot_set = $safeBootSet
    problems = $problems
}
$result | ConvertTo-Json -Compress -Depth 5
if ($ok) { exit 0 } else { exit 1 }
