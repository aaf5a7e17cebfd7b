# bitlocker-protectors, step backup-protectors: back up recovery-password protectors that the
# key provider does not hold (all of them when no provider is configured).
# Parameters: $Params.BackupTo ('none', 'ad', 'entra'), $Params.KeyProviderConfigured,
# $Params.EscrowedKeyIds.

$ErrorActionPreference = 'Stop'
$target = 'none'
if ($Params.BackupTo) { $target = [string]$Params.BackupTo }
$providerConfigured = [bool]$Params.KeyProviderConfigured
$escrowed = @($Params.EscrowedKeyIds | ForEach-Object { ([string]$_).ToUpperInvariant() })

$backedUp = @()
$failed = @()
if ($target -ne 'none') {
    foreach ($volume in @(Get-BitLockerVolume)) {
        foreach ($protector in @($volume.KeyProtector)) {
            if ([string]$protector.KeyProtectorType -ne 'RecoveryPassword') { continue }
            $id = [string]$protector.KeyProtectorId
            if ($providerConfigured -and ($escrowed -contains $id.ToUpperInvariant())) { continue }
            try {
                if ($target -eq 'ad') {
                    Backup-BitLockerKeyProtector -MountPoint $volume.MountPoint -KeyProtectorId $id | Out-Null
                } else {
                    BackupToAAD-BitLockerKeyProtector -MountPoint $volume.MountPoint -KeyProtectorId $id | Out-Null
                }
                $backedUp += $id
            } catch {
                $failed += "${id}: $($_.Exception.Message)"
            }
        }
    }
}

$ok = ($failed.Count -eq 0)
$result = [pscustomobject]@{
    ok = $ok
    changed = ($backedUp.Count -gt 0)
    reason = $(if ($ok) { "backed up $($backedUp.Count) protector(s) to $target" } else { 'backup_failed' })
    backup_to = $target
    backed_up = $backedUp
    errors = $failed
}
$result | ConvertTo-Json -Compress -Depth 5
if ($ok) { exit 0 } else { exit 1 }
