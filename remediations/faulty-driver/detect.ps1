# faulty-driver detect (Intune convention): exit 1 when remediation is needed: bad files
# present (delete), driver not disabled (disable-driver), a recorded value to put back
# (restore-driver). Read-only. Exit 2 when the parameters are unsafe or incomplete.
# Parameters: $Params.Mode, Folder, Pattern, BadSha256, BadFrom, BadUntil, BadHeaderHex,
# DriverService.

$ErrorActionPreference = 'Stop'
$mode = 'delete'
if ($Params.Mode) { $mode = [string]$Params.Mode }
$problems = @()

function Test-SafeFolder {
    # Deleting is allowed only below the drivers folder, and never through '..'.
    param([string]$path)
    $root = "$env:SystemRoot\System32\drivers\"
    if (-not $path -or $path.Contains('..') -or $path.Contains('/')) { return $false }
    return $path.TrimEnd('\').ToLowerInvariant().StartsWith($root.ToLowerInvariant())
}

function Test-BadFile {
    param($file)
    if (@($Params.BadSha256).Count -gt 0) {
        $hash = (Get-FileHash -LiteralPath $file.FullName -Algorithm SHA256).Hash
        $wanted = @($Params.BadSha256 | ForEach-Object { ([string]$_).ToUpperInvariant() })
        if ($wanted -notcontains $hash.ToUpperInvariant()) { return $false }
    }
    $stamp = $file.LastWriteTimeUtc.ToUniversalTime()
    if ($Params.BadFrom -and $stamp -lt ([datetime]$Params.BadFrom).ToUniversalTime()) { return $false }
    if ($Params.BadUntil -and $stamp -ge ([datetime]$Params.BadUntil).ToUniversalTime()) { return $false }
    if ($Params.BadHeaderHex) {
        $want = ([string]$Params.BadHeaderHex).Replace(' ', '').ToUpperInvariant()
        $count = [int]($want.Length / 2)
        $bytes = @(Get-Content -LiteralPath $file.FullName -Encoding Byte -TotalCount $count)
        $hex = ($bytes | ForEach-Object { ([int]$_).ToString('X2') }) -join ''
        if ($hex -ne $want) { return $false }
    }
    return $true
}

function Get-BadFiles {
    $found = @()
    foreach ($file in @(Get-ChildItem -LiteralPath $Params.Folder -Filter $Params.Pattern -File)) {
        # -Filter also matches 8.3 short names (*.sys finds driver.sys_old): the long name
        # must match the pattern too.
        if ($file.Name -notlike [string]$Params.Pattern) { continue }
        if ((Test-BadFile $file)) { $found += $file }
    }
    return $found
}

function Get-DriverKey {
    $name = [string]$Params.DriverService
    if ($name -notmatch '^[A-Za-z0-9_.-]+$') { return $null }
    return "HKLM:\SYSTEM\CurrentControlSet\Services\$name"
}

$recordKey = 'HKLM:\SOFTWARE\fleetfix\DisabledDrivers'
$hasCriterion = (@($Params.BadSha256).Count -gt 0) -or $Params.BadFrom -or $Params.BadUntil -or $Params.BadHeaderHex
if ($mode -eq 'delete') {
    if (-not (Test-SafeFolder ([string]$Params.Folder))) { $problems += 'folder_not_under_drivers' }
    if (-not $Params.Pattern -or ([string]$Params.Pattern).Contains('\')) { $problems += 'bad_pattern' }
    if (-not $hasCriterion) { $problems += 'no_criterion' }
} elseif (-not (Get-DriverKey)) {
    $problems += 'bad_driver_service'
} elseif (-not (Test-Path -Path (Get-DriverKey)) -or
        $null -eq (Get-ItemProperty -Path (Get-DriverKey)).Start) {
    # Without the current value there is nothing to record, hence nothing safe to change.
    $problems += 'driver_not_found'
} elseif ($mode -eq 'disable-driver') {
    # Only a boot- or system-start driver (Start 0 or 1) loads before the host can be reached;
    # disabling any other service would break it for nothing. Start 4 is already disabled
    # (by this pack if a value is recorded): nothing to change.
    $current = [int](Get-ItemProperty -Path (Get-DriverKey)).Start
    if ($current -ne 0 -and $current -ne 1 -and $current -ne 4) { $problems += 'not_boot_start' }
}

$needed = $false
$details = [ordered]@{}
if ($problems.Count -eq 0) {
    if ($mode -eq 'delete') {
        $bad = @(Get-BadFiles | ForEach-Object { $_.Name })
        $details.bad_files = $bad
        $needed = ($bad.Count -gt 0)
    } else {
        $name = [string]$Params.DriverService
        $start = (Get-ItemProperty -Path (Get-DriverKey)).Start
        $details.start = $start
        $recorded = Get-ItemProperty -Path $recordKey -Name $name -ErrorAction SilentlyContinue
        if ($mode -eq 'disable-driver') { $needed = ([int]$start -ne 4) }
        else { $needed = ($null -ne $recorded) }
    }
}

$result = [pscustomobject]@{
    compliant = (-not $needed) -and ($problems.Count -eq 0)
    ok = (-not $needed) -and ($problems.Count -eq 0)
    mode = $mode
    problems = $problems
    details = [pscustomobject]$details
}
$result | ConvertTo-Json -Compress -Depth 5
if ($problems.Count -gt 0) { exit 2 }
if ($needed) { exit 1 } else { exit 0 }
