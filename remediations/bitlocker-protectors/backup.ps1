# bitlocker-protectors, step backup-protectors: back up recovery-password protectors that the
# key provider does not hold (all of them when no provider is configured). Each backup the
# directory accepted is recorded under HKLM\SOFTWARE\fleetfix\BitLockerBackups\<BackupTo>
# (value: the protector ID, data: when), which verify.ps1 checks against the protectors the
# host has then. Parameters: $Params.BackupTo ('none', 'ad', 'entra'),
# $Params.KeyProviderConfigured, $Params.EscrowedKeyIds.

$ErrorActionPreference = 'Stop'
$target = 'none'
if ($Params.BackupTo) { $target = [string]$Params.BackupTo }
$providerConfigured = [bool]$Params.KeyProviderConfigured
# Key IDs compare without braces or case: fleetfix.keys prints 1A2B..., Windows {1a2b...}.
function ConvertTo-KeyId {
    param([string]$text)
    return ($text -replace '[{}\s]', '').ToUpperInvariant()
}
$escrowed = @($Params.EscrowedKeyIds | ForEach-Object { ConvertTo-KeyId ([string]$_) })

$recordKey = "HKLM:\SOFTWARE\fleetfix\BitLockerBackups\$target"
$backedUp = @()
$failed = @()
if ($target -ne 'none') {
    foreach ($volume in @(Get-BitLockerVolume)) {
        foreach ($protector in @($volume.KeyProtector)) {
            if ([string]$protector.KeyProtectorType -ne 'RecoveryPassword') { continue }
            $id = [string]$protector.KeyProtectorId
            if ($providerConfigured -and ($escrowed -contains (ConvertTo-KeyId $id))) { continue }
            try {
                if ($target -eq 'ad') {
                    Backup-BitLockerKeyProtector -MountPoint $volume.MountPoint -KeyProtectorId $id | Out-Null
                } else {
                    BackupToAAD-BitLockerKeyProtector -MountPoint $volume.MountPoint -KeyProtectorId $id | Out-Null
                }
                # The cmdlet returns once the directory took the key; it throws otherwise.
                if (-not (Test-Path -Path $recordKey)) { New-Item -Path $recordKey -Force | Out-Null }
                $when = (Get-Date).ToUniversalTime().ToString('o')
                New-ItemProperty -Path $recordKey -Name $id -Value $when -PropertyType String -Force | Out-Null
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
