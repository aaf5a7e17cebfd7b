# crowdstrike-291 detect (Intune convention): exit 1 when a bad channel 291 file is present.
# Read-only. Parameters: $Params.Rule ('strict' or 'advisory').

$ErrorActionPreference = 'Stop'
$folder = "$env:SystemRoot\System32\drivers\CrowdStrike"
$badHeader = 'AAAAAAAA01002301'
$rule = 'strict'
if ($Params -and $Params.Rule) { $rule = [string]$Params.Rule }

function Test-BadTime {
    param([datetime]$stamp)
    # strict: CrowdStrike's script, good only after 2024-07-19 06:27 UTC (epoch 1721370420).
    # advisory: bad from 04:09 UTC up to, not including, 05:27 UTC.
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

$bad = @()
$present = @()
if (Test-Path -LiteralPath $folder) {
    foreach ($file in @(Get-ChildItem -LiteralPath $folder -Filter 'C-00000291*.sys' -File)) {
        # Belt and braces: the file must sit directly in the folder, whatever -Filter matched.
        if ($file.DirectoryName -ne $folder) { continue }
        # -Filter also matches 8.3 short names: the long name must match too.
        if ($file.Name -notlike 'C-00000291*.sys') { continue }
        if ((Test-BadTime $file.LastWriteTimeUtc) -and (Get-Header $file.FullName) -eq $badHeader) {
            $bad += $file.Name
        }
        $present += $file.Name
    }
}

$compliant = ($bad.Count -eq 0)
$result = [pscustomobject]@{
    compliant = $compliant
    rule = $rule
    bad_files = $bad
    channel_files = $present
    reason = $(if ($compliant) { 'no bad channel 291 file' } else { "$($bad.Count) bad channel 291 file(s)" })
}
$result | ConvertTo-Json -Compress -Depth 5
if ($compliant) { exit 0 } else { exit 1 }
