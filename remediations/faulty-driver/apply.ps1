# faulty-driver, step apply: delete the bad files, disable the driver, or restore it.
# Parameters: as detect.ps1. Refuses (reason 'unsafe_parameters') rather than guess.

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

$result = [ordered]@{ ok = $false; changed = $false; mode = $mode; reason = 'unsafe_parameters' }
if ($problems.Count -eq 0 -and $mode -eq 'delete') {
    $deleted = @()
    $denied = @()
    foreach ($file in @(Get-BadFiles)) {
        try {
            Remove-Item -LiteralPath $file.FullName -Force
            $deleted += $file.Name
        } catch {
            $denied += "$($file.Name): $($_.Exception.Message)"
        }
    }
    $left = @(Get-BadFiles | ForEach-Object { $_.Name })
    $result.ok = ($left.Count -eq 0)
    $result.changed = ($deleted.Count -gt 0)
    # Access denied is reported, not escalated: safe-mode-cycle's inner fix is crowdstrike-291,
    # not this pack, and its verify would call a host fixed with this vendor's file still there.
    $result.reason = $(if ($denied.Count -gt 0) { 'access_denied' } elseif ($result.ok) { 'no bad file left' } else { 'bad_files_left' })
    $result.deleted = $deleted
    $result.errors = $denied
    $result.remaining = $left
} elseif ($problems.Count -eq 0) {
    # A failed registry write must still be reported: the engine needs to know where it stopped.
    try {
        $name = [string]$Params.DriverService
        $key = Get-DriverKey
        $start = [int](Get-ItemProperty -Path $key).Start
        $recorded = Get-ItemProperty -Path $recordKey -Name $name -ErrorAction SilentlyContinue
        if ($mode -eq 'disable-driver') {
            if ($start -ne 4) {
                # Record first: a host that dies between the two writes can still be restored.
                if (-not (Test-Path -Path $recordKey)) { New-Item -Path $recordKey -Force | Out-Null }
                New-ItemProperty -Path $recordKey -Name $name -Value $start -PropertyType DWord -Force | Out-Null
                Set-ItemProperty -Path $key -Name 'Start' -Value 4 -Type DWord
                $result.changed = $true
                $result.previous_start = $start
            } else {
                # Already disabled: by this pack when a value is recorded, else by someone else.
                $result.previous_start = $(if ($recorded) { [int]$recorded.$name } else { $null })
            }
        } elseif ($recorded) {
            $previous = [int]$recorded.$name
            Set-ItemProperty -Path $key -Name 'Start' -Value $previous -Type DWord
            Remove-ItemProperty -Path $recordKey -Name $name
            $result.changed = $true
            $result.restored_start = $previous
        }
        $result.start = [int](Get-ItemProperty -Path $key).Start
        $result.ok = $(if ($mode -eq 'disable-driver') { $result.start -eq 4 } else { $true })
        $result.reason = $(if ($result.ok) { "$name Start is $($result.start)" } else { 'start_not_changed' })
    } catch {
        $result.ok = $false
        $result.reason = 'registry_write_failed'
        $problems += $_.Exception.Message
    }
}
$result.problems = $problems
[pscustomobject]$result | ConvertTo-Json -Compress -Depth 5
if ($result.ok) { exit 0 } else { exit 1 }
