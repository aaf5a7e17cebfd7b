# safe-mode-cycle detect: exit 1 while the host is in safe mode or has safe boot set, or while
# a bad channel 291 file is present (the reason to run the cycle). Read-only.

$ErrorActionPreference = 'Stop'
$folder = "$env:SystemRoot\System32\drivers\CrowdStrike"
$badHeader = 'AAAAAAAA01002301'

# SafeBoot\Option exists only while Windows runs in safe mode (1 minimal, 2 network).
$inSafeMode = Test-Path -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\SafeBoot\Option'
$bcd = (bcdedit.exe /enum '{default}') -join "`n"
$safeBootSet = $bcd -match '(?m)^safeboot\s'
$bad = @()
if (Test-Path -LiteralPath $folder) {
    foreach ($file in @(Get-ChildItem -LiteralPath $folder -Filter 'C-00000291*.sys' -File)) {
        $bytes = @(Get-Content -LiteralPath $file.FullName -Encoding Byte -TotalCount 8)
        $hex = ($bytes | ForEach-Object { ([int]$_).ToString('X2') }) -join ''
        if ($hex -eq $badHeader) { $bad += $file.Name }
    }
}

$compliant = (-not $inSafeMode) -and (-not $safeBootSet) -and ($bad.Count -eq 0)
$result = [pscustomobject]@{
    compliant = $compliant
    in_safe_mode = $inSafeMode
    safeboot_set = $safeBootSet
    bad_files = $bad
}
$result | ConvertTo-Json -Compress -Depth 5
if ($compliant) { exit 0 } else { exit 1 }
