# bitlocker-protectors verify: what the steps were for, read from the host as it is now, not
# from the key provider's list the run started with (that list predates the backup):
# every encrypted volume has a recovery-password protector; with BackupTo, every such
# protector is held by the key provider or was backed up to BackupTo by this pack (its record
# under HKLM\SOFTWARE\fleetfix\BitLockerBackups, for a protector the volume still has); with
# a key provider and no backup, every protector is escrowed; with Suspend, no encrypted volume
# is still protected. Never reads or prints a recovery password. Read-only.
# Parameters: as the pack: KeyProviderConfigured, EscrowedKeyIds, BackupTo, Suspend.

$ErrorActionPreference = 'Stop'
$providerConfigured = [bool]$Params.KeyProviderConfigured
# Key IDs compare without braces or case: fleetfix.keys prints 1A2B..., Windows {1a2b...}.
function ConvertTo-KeyId {
    param([string]$text)
    return ($text -replace '[{}\s]', '').ToUpperInvariant()
}
$escrowed = @($Params.EscrowedKeyIds | ForEach-Object { ConvertTo-KeyId ([string]$_) })
$target = 'none'
if ($Params.BackupTo) { $target = [string]$Params.BackupTo }
$suspend = [bool]$Params.Suspend
$recordKey = "HKLM:\SOFTWARE\fleetfix\BitLockerBackups\$target"

function Get-BackupTime {
    param([string]$id)
    if ($target -eq 'none' -or -not (Test-Path -Path $recordKey)) { return $null }
    $record = Get-ItemProperty -Path $recordKey -Name $id -ErrorAction SilentlyContinue
    if ($record) { return [string]$record.$id }
    return $null
}

$volumes = @()
$problems = @()
foreach ($volume in @(Get-BitLockerVolume)) {
    $mount = [string]$volume.MountPoint
    $protectors = @()
    foreach ($protector in @($volume.KeyProtector)) {
        if ([string]$protector.KeyProtectorType -ne 'RecoveryPassword') { continue }
        $id = [string]$protector.KeyProtectorId
        $isEscrowed = $null
        if ($providerConfigured) { $isEscrowed = $escrowed -contains (ConvertTo-KeyId $id) }
        $backedUpAt = Get-BackupTime $id
        if ($target -ne 'none' -and $isEscrowed -ne $true -and -not $backedUpAt) {
            $problems += "$mount $id not_backed_up"
        } elseif ($target -eq 'none' -and $isEscrowed -eq $false) {
            $problems += "$mount $id not_escrowed"
        }
        $protectors += [pscustomobject]@{ key_protector_id = $id; escrowed = $isEscrowed; backed_up_at = $backedUpAt }
    }
    $encrypted = ([string]$volume.VolumeStatus -ne 'FullyDecrypted')
    if ($encrypted -and $protectors.Count -eq 0) { $problems += "$mount no_recovery_password" }
    if ($suspend -and $encrypted -and [string]$volume.ProtectionStatus -eq 'On') { $problems += "$mount not_suspended" }
    $volumes += [pscustomobject]@{
        mount_point = $mount
        protection_status = [string]$volume.ProtectionStatus
        volume_status = [string]$volume.VolumeStatus
        recovery_password_protectors = $protectors
    }
}

$ok = ($problems.Count -eq 0)
$reason = 'recovery passwords escrowed or backed up'
if (-not $ok) { $reason = (@($problems | ForEach-Object { ($_ -split ' ')[-1] }) | Select-Object -Unique) -join ',' }
$result = [pscustomobject]@{
    ok = $ok
    reason = $reason
    backup_to = $target
    key_provider_configured = $providerConfigured
    problems = $problems
    volumes = $volumes
}
$result | ConvertTo-Json -Compress -Depth 5
if ($ok) { exit 0 } else { exit 1 }
