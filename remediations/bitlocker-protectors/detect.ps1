# bitlocker-protectors detect: inventory. Exit 1 when an encrypted volume has no
# recovery-password protector, or (with a key provider) one that is not escrowed.
# Never reads or prints a recovery password. Read-only.
# Parameters: $Params.KeyProviderConfigured, $Params.EscrowedKeyIds.

$ErrorActionPreference = 'Stop'
$providerConfigured = [bool]$Params.KeyProviderConfigured
$escrowed = @($Params.EscrowedKeyIds | ForEach-Object { ([string]$_).ToUpperInvariant() })

$volumes = @()
$problems = @()
foreach ($volume in @(Get-BitLockerVolume)) {
    $protectors = @()
    foreach ($protector in @($volume.KeyProtector)) {
        if ([string]$protector.KeyProtectorType -ne 'RecoveryPassword') { continue }
        $id = [string]$protector.KeyProtectorId
        $isEscrowed = $null
        if ($providerConfigured) { $isEscrowed = $escrowed -contains $id.ToUpperInvariant() }
        $protectors += [pscustomobject]@{ key_protector_id = $id; escrowed = $isEscrowed }
        if ($isEscrowed -eq $false) { $problems += "$($volume.MountPoint) $id not_escrowed" }
    }
    $encrypted = ([string]$volume.VolumeStatus -ne 'FullyDecrypted')
    if ($encrypted -and $protectors.Count -eq 0) { $problems += "$($volume.MountPoint) no_recovery_password" }
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
