# crowdstrike-291 remediate: delete the bad channel 291 files, and nothing else.
# Only inside the CrowdStrike drivers folder, only C-00000291*.sys, only files that fail the
# time rule AND carry the bad header. Access denied (tamper protection outside safe mode) is
# reported as reason 'access_denied' so the engine escalates to safe-mode-cycle.
# Parameters: $Params.Rule ('strict' or 'advisory').

$ErrorActionPreference = 'Stop'
$folder = "$env:SystemRoot\System32\drivers\CrowdStrike"
$badHeader = 'AAAAAAAA01002301'
$rule = 'strict'
if ($Params -and $Params.Rule) { $rule = [string]$Params.Rule }

function Test-BadTime {
    param([datetime]$stamp)
    $utc = $stamp.ToUniversalTime()
    if ($rule -eq 'advisory') {
        $from = [datetimeoffset]::FromUnixTimeSeconds(1721362140).UtcDateTime
        $until = [datetimeoffset]::FromUnixTimeSeconds(1721366820).UtcDateTime
        return ($utc -ge $from -and $utc -lt $until)
    }
    return ($utc -le [datetimeoffset]::FromUnixTimeSeconds(1721370420).UtcDateTime)
}

function Get-Header {
    param([string]$path)
    $bytes = @(Get-Content -LiteralPath $path -Encoding Byte -TotalCount 8)
    return (($bytes | ForEach-Object { ([int]$_).ToString('X2') }) -join '')
}

function Get-BadFiles {
    $found = @()
    if (-not (Test-Path -LiteralPath $folder)) { return $found }
    foreach ($file in @(Get-ChildItem -LiteralPath $folder -Filter 'C-00000291*.sys' -File)) {
        # Belt and braces: the file must sit directly in the folder, whatever -Filter matched.
        if ($file.DirectoryName -ne $folder) { continue }
        # -Filter also matches 8.3 short names: the long name must match too.
        if ($file.Name -notlike 'C-00000291*.sys') { continue }
        if ((Test-BadTime $file.LastWriteTimeUtc) -and (Get-Header $file.FullName) -eq $badHeader) {
            $found += $file
        }
    }
    return $found
}

$deleted = @()
$denied = @()
$failed = @()
foreach ($file in @(Get-BadFiles)) {
    try {
        Remove-Item -LiteralPath $file.FullName -Force
        $deleted += $file.Name
    } catch [System.UnauthorizedAccessException] {
        $denied += $file.Name
    } catch {
        if ($_.CategoryInfo.Category -eq 'PermissionDenied') { $denied += $file.Name }
        else { $failed += "$($file.Name): $($_.Exception.Message)" }
    }
}

# Verify, never assume: community scripts that aimed at the wrong folder "succeeded" too.
$left = @(Get-BadFiles | ForEach-Object { $_.Name })
$ok = ($left.Count -eq 0)
$reason = 'no bad channel 291 file left'
if ($denied.Count -gt 0) { $reason = 'access_denied' }
elseif (-not $ok) { $reason = 'bad_files_left' }
$result = [pscustomobject]@{
    ok = $ok
    changed = ($deleted.Count -gt 0)
    reason = $reason
    escalate = ($denied.Count -gt 0)
    rule = $rule
    deleted = $deleted
    denied = $denied
    errors = $failed
    remaining = $left
}
$result | ConvertTo-Json -Compress -Depth 5
if ($ok) { exit 0 } else { exit 1 }
