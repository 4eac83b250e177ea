<#
.SYNOPSIS
Removes the fleetwatch agent's service and program; deletes its data unless -KeepData.

.DESCRIPTION
Run it as Administrator. Stops and removes the service (fleetwatch-agent service remove), deletes
-InstallDir, then deletes -DataDir (configuration, credential, spool, logs) unless -KeepData is
given. With -KeepData a later install.ps1 continues where this agent stopped: same identity, and
the reports still in the spool are sent.

.PARAMETER KeepData
Keep -DataDir. Without it the machine must be enrolled again (with a token) after a reinstall.

.PARAMETER DataDir
Default: %ProgramData%\fleetwatch.

.PARAMETER InstallDir
Default: %ProgramFiles%\fleetwatch.

.EXAMPLE
powershell -ExecutionPolicy Bypass -File .\uninstall.ps1 -KeepData
#>
[CmdletBinding()]
param(
    [switch] $KeepData,
    [string] $DataDir = (Join-Path $env:ProgramData 'fleetwatch'),
    [string] $InstallDir = (Join-Path $env:ProgramFiles 'fleetwatch')
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

function Write-Step([string] $Text) {
    Write-Host "==> $Text"
}

function Invoke-Agent {
    # fleetwatch-agent ARGUMENTS... ($args: every word goes to the program as written); returns its
    # exit code, its output goes to the console.
    $ErrorActionPreference = 'Continue'   # a native program's stderr is not a PowerShell error
    & $script:AgentExe @args | Out-Host
    return $LASTEXITCODE
}

$identity = [Security.Principal.WindowsIdentity]::GetCurrent()
$principal = New-Object Security.Principal.WindowsPrincipal($identity)
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'Run uninstall.ps1 as Administrator (right click PowerShell: Run as administrator).'
}

$script:AgentExe = Join-Path $InstallDir 'Scripts\fleetwatch-agent.exe'
if (Test-Path -LiteralPath $script:AgentExe) {
    Write-Step 'Stopping and removing the service'
    $code = Invoke-Agent service remove
    if ($code -ne 0) { Write-Warning "fleetwatch-agent service remove: exit code $code (was it installed?)" }
} else {
    Write-Warning "No agent in $InstallDir: no service to remove from there"
}

if (Test-Path -LiteralPath $InstallDir) {
    Write-Step "Deleting $InstallDir"
    Remove-Item -LiteralPath $InstallDir -Recurse -Force
}

if ($KeepData) {
    Write-Step "Keeping $DataDir (configuration, credential, spool): a reinstall continues with them"
} elseif (Test-Path -LiteralPath $DataDir) {
    Write-Step "Deleting $DataDir"
    Remove-Item -LiteralPath $DataDir -Recurse -Force
}
Write-Host 'fleetwatch agent removed.'
