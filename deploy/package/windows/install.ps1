<#
.SYNOPSIS
Installs the fleetwatch agent from this offline bundle as a Windows service.

.DESCRIPTION
Run it as Administrator from the bundle's folder. Nothing is downloaded: every Python package comes
from wheels\cpXY of the bundle. The script
  1. checks the bundle's files against SHA256SUMS;
  2. finds a 64-bit Python 3.11, 3.12 or 3.13 (or uses -Python);
  3. creates the agent's own environment in -InstallDir and installs fleetwatch into it;
  4. makes -DataDir readable by SYSTEM and Administrators only, copies the token (and CA) into it;
  5. writes -DataDir\agent.toml unless it exists (an existing configuration is never overwritten);
  6. enrols with the token and deletes its copy (if the collector cannot be reached now, the
     service enrols later with the copy);
  7. registers and starts the service, then runs `fleetwatch-agent check`.
Running it again upgrades the program and keeps the configuration, the credential and the spool.

.PARAMETER TokenFile
The site's enrolment token file (from `fleetwatch-collector token create`). Needed unless the agent
is already enrolled (DataDir\credential.json exists).

.PARAMETER Collector
Collector address(es), host:port; several separated by commas, the first preferred. Needed unless
DataDir\agent.toml exists (running install.ps1 again keeps that configuration).

.PARAMETER CaFile
PEM file of the CA that signed the collector's certificate (TLS). Empty: Windows' trusted roots.

.PARAMETER Site
Site slug written in the configuration. A site token names the site itself: leave it empty then.

.PARAMETER DataDir
Configuration, credential, spool and logs. Default: %ProgramData%\fleetwatch.

.PARAMETER InstallDir
The agent's program and Python environment. Default: %ProgramFiles%\fleetwatch.

.PARAMETER Python
python.exe to build the environment from. Default: the newest of 3.13, 3.12, 3.11 that the py
launcher or PATH knows.

.EXAMPLE
powershell -ExecutionPolicy Bypass -File .\install.ps1 -TokenFile .\xa-tan-my-chanh.token -Collector collector.example:50051 -CaFile .\ca.pem
#>
[CmdletBinding()]
param(
    [string] $TokenFile = '',
    [string[]] $Collector = @(),
    [string] $CaFile = '',
    [string] $Site = '',
    [string] $DataDir = (Join-Path $env:ProgramData 'fleetwatch'),
    [string] $InstallDir = (Join-Path $env:ProgramFiles 'fleetwatch'),
    [string] $Python = ''
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$Bundle = $PSScriptRoot
$Supported = @('3.13', '3.12', '3.11')
$SystemSid = '*S-1-5-18'          # SYSTEM, whatever the language of Windows
$AdministratorsSid = '*S-1-5-32-544'

# The configuration written when DataDir has none. __NAME__ are replaced by TOML strings.
$ConfigTemplate = @'
# fleetwatch agent configuration, written by install.ps1, which never overwrites it.
# Every option not listed keeps its default: agent.example.toml in the bundle lists them all.

[agent]
data_dir = __DATA_DIR__

[site]
slug = __SITE__

[collector]
addresses = [__ADDRESSES__]
ca_file = __CA_FILE__
token_file = __TOKEN_FILE__
'@

function Write-Step([string] $Text) {
    Write-Host "==> $Text"
}

function ConvertTo-TomlString([string] $Value) {
    # A TOML basic string: backslashes and quotes escaped (Windows paths are full of backslashes).
    return '"' + $Value.Replace('\', '\\').Replace('"', '\"') + '"'
}

# Plain functions taking $args: every word after the name goes to the program as written (an
# advanced function would try to bind words such as -m to its own parameters).
function Invoke-Checked {
    # A program that must succeed: Invoke-Checked PROGRAM ARGUMENTS...; its output goes to the console.
    $program, $rest = $args
    $ErrorActionPreference = 'Continue'   # a native program's stderr is not a PowerShell error
    & $program @rest | Out-Host
    if ($LASTEXITCODE -ne 0) {
        throw "$program $($rest -join ' ') failed with exit code $LASTEXITCODE"
    }
}

function Invoke-Agent {
    # fleetwatch-agent ARGUMENTS...; returns its exit code, its output goes to the console.
    $ErrorActionPreference = 'Continue'
    & $script:AgentExe @args | Out-Host
    return $LASTEXITCODE
}

function Test-Administrator {
    $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object Security.Principal.WindowsPrincipal($identity)
    return $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
}

function Test-Bundle {
    $sums = Join-Path $Bundle 'SHA256SUMS'
    if (-not (Test-Path -LiteralPath $sums)) { throw "SHA256SUMS is missing: copy the whole bundle folder" }
    foreach ($line in Get-Content -LiteralPath $sums) {
        if (-not $line) { continue }
        $expected, $name = $line -split '  ', 2
        $path = Join-Path $Bundle ($name -replace '/', '\')
        if (-not (Test-Path -LiteralPath $path)) { throw "bundle file missing: $name" }
        $actual = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash.ToLowerInvariant()
        if ($actual -ne $expected) { throw "bundle file damaged (checksum differs): $name; copy the bundle again" }
    }
}

function Get-PythonInfo([string] $Exe) {
    # "3 12 64 C:\...\python.exe" from a Python, or $null when it does not run.
    $ErrorActionPreference = 'Continue'
    $code = 'import sys, struct; print(sys.version_info[0], sys.version_info[1], struct.calcsize(''P'') * 8, sys.executable)'
    $out = & $Exe -c $code 2>$null
    if ($LASTEXITCODE -ne 0 -or -not $out) { return $null }
    $major, $minor, $bits, $path = "$out".Trim() -split ' ', 4
    return [pscustomobject]@{ Version = "$major.$minor"; Bits = $bits; Path = $path }
}

function Find-Python {
    $ErrorActionPreference = 'Continue'
    $candidates = @()
    if ($Python) {
        $candidates += $Python
    } else {
        $launcher = Get-Command py.exe -ErrorAction SilentlyContinue
        foreach ($version in $Supported) {
            if ($launcher) {
                $exe = & $launcher.Source "-$version" -c 'import sys; print(sys.executable)' 2>$null
                if ($LASTEXITCODE -eq 0 -and $exe) { $candidates += "$exe".Trim() }
            }
        }
        # python.exe on PATH, but not the Microsoft Store's placeholder in WindowsApps.
        $candidates += @(Get-Command python.exe -All -ErrorAction SilentlyContinue |
            Where-Object { $_.Source -notlike '*\WindowsApps\*' } | ForEach-Object { $_.Source })
    }
    foreach ($candidate in $candidates) {
        $info = Get-PythonInfo $candidate
        if ($info -and $info.Bits -eq '64' -and $Supported -contains $info.Version) { return $info }
        if ($Python) {
            throw "-Python $Python is not a 64-bit Python $($Supported -join ', ')"
        }
    }
    throw "No 64-bit Python $($Supported -join ', ') found: install Python for all users, or pass -Python C:\path\to\python.exe"
}

function Protect-DataDir([string] $Folder) {
    # SYSTEM and Administrators only, not inherited from %ProgramData% (where Users may read).
    New-Item -ItemType Directory -Force -Path $Folder | Out-Null
    Invoke-Checked icacls.exe $Folder /inheritance:r /grant:r "$($SystemSid):(OI)(CI)F" "$($AdministratorsSid):(OI)(CI)F" /T /C /Q
    Invoke-Checked icacls.exe $Folder /setowner $AdministratorsSid /T /C /Q
}

if (-not (Test-Administrator)) { throw 'Run install.ps1 as Administrator (right click PowerShell: Run as administrator).' }
$addresses = @($Collector | ForEach-Object { $_ -split ',' } | ForEach-Object { $_.Trim() } | Where-Object { $_ })
$config = Join-Path $DataDir 'agent.toml'
if ($addresses.Count -eq 0 -and -not (Test-Path -LiteralPath $config)) {
    throw "-Collector is needed: give at least one host:port ($config does not exist yet)"
}
$credential = Join-Path $DataDir 'credential.json'
if (-not $TokenFile -and -not (Test-Path -LiteralPath $credential)) {
    throw "-TokenFile is needed: this machine is not enrolled yet ($credential does not exist)"
}
if ($TokenFile -and -not (Test-Path -LiteralPath $TokenFile)) { throw "-TokenFile $TokenFile does not exist" }
if ($CaFile -and -not (Test-Path -LiteralPath $CaFile)) { throw "-CaFile $CaFile does not exist" }

Write-Step 'Checking the bundle'
Test-Bundle
$py = Find-Python
$wheels = Join-Path $Bundle ("wheels\cp" + $py.Version.Replace('.', ''))
if (-not (Test-Path -LiteralPath $wheels)) { throw "this bundle has no wheels for Python $($py.Version)" }
Write-Step "Python $($py.Version): $($py.Path)"

$script:AgentExe = Join-Path $InstallDir 'Scripts\fleetwatch-agent.exe'
if (Test-Path -LiteralPath $script:AgentExe) {
    Write-Step 'Removing the previous program (configuration and data stay)'
    $null = Invoke-Agent service remove
    Remove-Item -LiteralPath $InstallDir -Recurse -Force
}

Write-Step "Creating the environment in $InstallDir"
Invoke-Checked $py.Path -m venv $InstallDir
$envPython = Join-Path $InstallDir 'Scripts\python.exe'
Invoke-Checked $envPython -m pip install --no-index --only-binary=:all: --find-links $wheels --disable-pip-version-check --no-warn-script-location 'fleetwatch[agent,snmp]'

Write-Step "Securing $DataDir"
Protect-DataDir $DataDir
$tokenCopy = Join-Path $DataDir 'enroll.token'
if ($TokenFile) { Copy-Item -LiteralPath $TokenFile -Destination $tokenCopy -Force }
$caCopy = ''
if ($CaFile) {
    $caCopy = Join-Path $DataDir 'ca.pem'
    Copy-Item -LiteralPath $CaFile -Destination $caCopy -Force
}

if (Test-Path -LiteralPath $config) {
    Write-Step "Keeping the existing configuration $config (-Collector, -CaFile and -Site are not applied)"
} else {
    Write-Step "Writing $config"
    $quoted = ($addresses | ForEach-Object { ConvertTo-TomlString $_ }) -join ', '
    $siteSlug = $Site
    if (-not $siteSlug) { $siteSlug = 'unassigned' }
    $text = $ConfigTemplate.Replace('__DATA_DIR__', (ConvertTo-TomlString $DataDir))
    $text = $text.Replace('__SITE__', (ConvertTo-TomlString $siteSlug))
    $text = $text.Replace('__ADDRESSES__', $quoted)
    $text = $text.Replace('__CA_FILE__', (ConvertTo-TomlString $caCopy))
    $text = $text.Replace('__TOKEN_FILE__', (ConvertTo-TomlString $tokenCopy))
    [IO.File]::WriteAllText($config, $text, (New-Object Text.UTF8Encoding $false))
}

if (Test-Path -LiteralPath $credential) {
    Write-Step 'Already enrolled: keeping the credential'
} else {
    Write-Step 'Enrolling with the token'
    $code = Invoke-Agent enroll --config $config --token-file $tokenCopy
    if ($code -eq 2) { throw "the configuration $config is invalid (the message above names the option)" }
    if ($code -eq 0) {
        Remove-Item -LiteralPath $tokenCopy -Force   # used: the credential replaces it
    } else {
        Write-Warning "Not enrolled now (exit code $code). The service enrols by itself with $tokenCopy once the collector answers; see the message above."
    }
}

Write-Step 'Registering and starting the service'
$code = Invoke-Agent service install --config $config
if ($code -ne 0) { throw "fleetwatch-agent service install failed with exit code $code" }
$code = Invoke-Agent service start
if ($code -ne 0) { throw "fleetwatch-agent service start failed with exit code $code" }

Write-Step 'Checking'
$code = Invoke-Agent check --config $config
if ($code -eq 0) {
    Write-Host 'fleetwatch agent installed and running.'
} else {
    Write-Warning "The service runs, but the check found a problem (exit code $code): see install.md, Troubleshooting."
}
