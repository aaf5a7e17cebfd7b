# bitlocker-protectors detect: inventory. Exit 1 when an encrypted volume has no
# recovery-password protector, or (with a key provider) one that is not escrowed, or
# (without one, with BackupTo) one this pack has not backed up there yet, or (with Suspend)
# an encrypted volume is still protected: otherwise the steps asked for would never run.
# Never reads or prints a recovery password. Read-only.
# Parameters: $Params.KeyProviderConfigured, $Params.EscrowedKeyIds, $Params.BackupTo,
# $Params.Suspend.

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
# Where backup.ps1 records each backup the directory accepted.
$recordKey = "HKLM:\SOFTWARE\fleetfix\BitLockerBackups\$target"

function Test-BackedUp {
    param([string]$id)
    if ($target -eq 'none' -or -not (Test-Path -Path $recordKey)) { return $false }
    return ($null -ne (Get-ItemProperty -Path $recordKey -Name $id -ErrorAction SilentlyContinue))
}

$volumes = @()
$problems = @()
foreach ($volume in @(Get-BitLockerVolume)) {
    $protectors = @()
    foreach ($protector in @($volume.KeyProtector)) {
        if ([string]$protector.KeyProtectorType -ne 'RecoveryPassword') { continue }
        $id = [string]$protector.KeyProtectorId
        $isEscrowed = $null
        if ($providerConfigured) { $isEscrowed = $escrowed -contains (ConvertTo-KeyId $id) }
        $protectors += [pscustomobject]@{ key_protector_id = $id; escrowed = $isEscrowed }
        if ($isEscrowed -eq $false) { $problems += "$($volume.MountPoint) $id not_escrowed" }
        elseif ($null -eq $isEscrowed -and $target -ne 'none' -and -not (Test-BackedUp $id)) {
            $problems += "$($volume.MountPoint) $id not_backed_up"
        }
    }
    $encrypted = ([string]$volume.VolumeStatus -ne 'FullyDecrypted')
    if ($encrypted -and $protectors.Count -eq 0) { $problems += "$($volume.MountPoint) no_recovery_password" }
    if ($suspend -and $encrypted -and [string]$volume.ProtectionStatus -eq 'On') {
        $problems += "$($volume.MountPoint) protection_on"
    }
    $volumes += [pscustomobject]@{
        mount_point = [string]$volume.MountPoint
        protection_status = [string]$volume.ProtectionStatus
        volume_status = [string]$volume.VolumeStatus
        recovery_password_protectors = $protectors
    }
}

$compliant = ($problems.Count -eq 0)
$result = [pscustomobject]@{
    compliant = $compliant
    ok = $compliant
    key_provider_configured = $providerConfigured
    problems = $problems
    volumes = $volumes
}
$result | ConvertTo-Json -Compress -Depth 5
if ($compliant) { exit 0 } else { exit 1 }
