# fleetfix probe: everything the diagnosis needs, in one round trip, as one JSON line.
# Windows PowerShell 5.1. Reads only; changes nothing on the host.
# Parameters ($Params, set by fleetfix's fixed prologue): CrashWindowHours, MaxEvents.
# Each section catches its own failure, so one broken WMI class costs one field, not the probe.

$ErrorActionPreference = 'Stop'
$windowHours = 24
$maxEvents = 200
if ($Params -and $Params.CrashWindowHours) { $windowHours = [int]$Params.CrashWindowHours }
if ($Params -and $Params.MaxEvents) { $maxEvents = [int]$Params.MaxEvents }

$problems = @()
$now = [datetime]::UtcNow
$report = [ordered]@{
    probe_version = 1
    host_name = $env:COMPUTERNAME
    collected_at = $now.ToString('o')
}

try {
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    $boot = $os.LastBootUpTime.ToUniversalTime()
    $report.os_caption = $os.Caption
    $report.os_build = [string]$os.BuildNumber
    $report.last_boot = $boot.ToString('o')
    $report.uptime_seconds = [int]($now - $boot).TotalSeconds
} catch {
    $problems += "os: $($_.Exception.Message)"
}

# SafeBoot\Option exists only while Windows runs in safe mode (1 minimal, 2 network).
$report.safe_mode = 'normal'
try {
    $option = Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\SafeBoot\Option' -ErrorAction SilentlyContinue
    if ($option -and $option.OptionValue -eq 1) { $report.safe_mode = 'minimal' }
    if ($option -and $option.OptionValue -eq 2) { $report.safe_mode = 'network' }
} catch {
    $problems += "safe_mode: $($_.Exception.Message)"
}

$report.winrm_in_safe_mode = Test-Path -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\SafeBoot\Network\WinRM'

$channelFiles = @()
try {
    $folder = Join-Path $env:SystemRoot 'System32\drivers\CrowdStrike'
    if (Test-Path -LiteralPath $folder) {
        foreach ($file in @(Get-ChildItem -LiteralPath $folder -Filter 'C-00000291*.sys' -File)) {
            $header = @(Get-Content -LiteralPath $file.FullName -Encoding Byte -TotalCount 8)
            $hex = ($header | ForEach-Object { ([int]$_).ToString('X2') }) -join ''
            $hash = Get-FileHash -LiteralPath $file.FullName -Algorithm SHA256
            $channelFiles += [pscustomobject]@{
                name = $file.Name
                path = $file.FullName
                size = [long]$file.Length
                last_write_utc = $file.LastWriteTimeUtc.ToString('o')
                header_hex = $hex
                sha256 = $hash.Hash
            }
        }
    }
} catch {
    $problems += "channel_files: $($_.Exception.Message)"
}
$report.channel_files = $channelFiles

$services = @()
foreach ($name in @('CSFalconService', 'csagent', 'WinRM')) {
    $service = Get-Service -Name $name -ErrorAction SilentlyContinue
    if ($service) {
        $services += [pscustomobject]@{
            name = $service.Name
            status = [string]$service.Status
            start_type = [string]$service.StartType
        }
    }
}
$report.services = $services

$crashes = @()
try {
    $since = $now.AddHours(-$windowHours)
    $filter = @{ LogName = 'System'; Id = 41, 1001, 6008; StartTime = $since }
    $events = @(Get-WinEvent -FilterHashtable $filter -MaxEvents $maxEvents -ErrorAction SilentlyContinue)
    foreach ($event in $events) {
        $entry = [ordered]@{
            id = [int]$event.Id
            time_utc = $event.TimeCreated.ToUniversalTime().ToString('o')
            provider = $event.ProviderName
        }
        # Kernel-Power 41 carries BugcheckCode (decimal) then BugcheckParameter1..4.
        if ($event.Id -eq 41 -and $event.Properties.Count -ge 5) {
            $entry.bugcheck_code = [long]$event.Properties[0].Value
            $parameters = @()
            foreach ($index in 1..4) { $parameters += [string]$event.Properties[$index].Value }
            $entry.bugcheck_parameters = $parameters
        }
        $crashes += [pscustomobject]$entry
    }
} catch {
    $problems += "crash_events: $($_.Exception.Message)"
}
$report.crash_window_hours = $windowHours
$report.crash_events = $crashes

# Key protector IDs only: a recovery password must never leave the host in a probe.
$volumes = @()
try {
    foreach ($volume in @(Get-BitLockerVolume -ErrorAction SilentlyContinue)) {
        $ids = @()
        foreach ($protector in @($volume.KeyProtector)) {
            if ([string]$protector.KeyProtectorType -eq 'RecoveryPassword') {
                $ids += [string]$protector.KeyProtectorId
            }
        }
        $volumes += [pscustomobject]@{
            mount_point = [string]$volume.MountPoint
            protection_status = [string]$volume.ProtectionStatus
            volume_status = [string]$volume.VolumeStatus
            recovery_key_ids = $ids
        }
    }
} catch {
    $problems += "bitlocker: $($_.Exception.Message)"
}
$report.bitlocker = $volumes

$pendingKeys = @(
    'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending',
    'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'
)
$pending = $false
foreach ($key in $pendingKeys) {
    if (Test-Path -Path $key) { $pending = $true }
}
$report.pending_reboot = $pending
$report.problems = $problems

[pscustomobject]$report | ConvertTo-Json -Compress -Depth 5
