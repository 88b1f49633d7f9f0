; Inno Setup 6 script of Lightbox for Windows (x64).
;
; Build on Windows, from the repository root, after the PyInstaller bundle:
;   .venv\Scripts\pyinstaller --noconfirm --clean --distpath build\pyinstaller\dist ^
;       --workpath build\pyinstaller\work installers\lightbox.spec
;   "%ProgramFiles(x86)%\Inno Setup 6\ISCC.exe" /DAppVersion=0.1.0 installers\windows\lightbox.iss
; Result: dist\lightbox-0.1.0-windows-x64-setup.exe
;
; The installer puts the one-folder bundle in Program Files\Lightbox, adds Start-menu (and
; optional desktop) shortcuts, registers Lightbox as a handler of .dcm files and of the
; application/dicom content type (without taking over an existing default), optionally adds
; the folder to the PATH for the `lightbox` command, and removes all of it on uninstall.
; The user's studies (in %LOCALAPPDATA%\lightbox) are left alone.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Lightbox"
#define AppExe "lightbox.exe"
#define GuiExe "lightboxw.exe"
; Relative paths are relative to this script's folder, installers\windows.
#define RepoRoot "..\.."
#define Bundle RepoRoot + "\build\pyinstaller\dist\lightbox"

[Setup]
; AppId identifies the product for upgrades and uninstall: never change it.
AppId={{6F1E6A53-2C0B-4E5D-9B7A-4C1D0B2A8E11}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=The Lightbox developers
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
OutputDir={#RepoRoot}\dist
OutputBaseFilename=lightbox-{#AppVersion}-windows-x64-setup
SetupIconFile={#RepoRoot}\resources\icons\lightbox.ico
UninstallDisplayIcon={app}\{#AppExe}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Per-machine by default; the dialog lets a user without admin rights install for himself.
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ChangesAssociations=yes
ChangesEnvironment=yes
MinVersion=10.0

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "associate"; Description: "Open DICOM files (.dcm) with Lightbox"; GroupDescription: "File types:"
Name: "addtopath"; Description: "Add the lightbox command to the PATH"; GroupDescription: "Command line:"; Flags: unchecked

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "{#RepoRoot}\docs\conformance-statement.md"; DestDir: "{app}\docs"; Flags: ignoreversion

[Icons]
; lightbox.exe is the console program (`lightbox --version`, `render`, `query` ...);
; lightboxw.exe is the same application without a console window, for shortcuts and files.
Name: "{group}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Parameters: "open"; IconFilename: "{app}\{#GuiExe}"
Name: "{group}\DICOM Conformance Statement"; Filename: "{app}\docs\conformance-statement.md"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Parameters: "open"; Tasks: desktopicon

[Registry]
; ProgID with the open verb; .dcm lists it under OpenWithProgids so an existing default
; viewer keeps working and Lightbox appears in "Open with".
Root: HKA; Subkey: "Software\Classes\Lightbox.DICOM"; ValueType: string; ValueData: "DICOM image"; Flags: uninsdeletekey; Tasks: associate
Root: HKA; Subkey: "Software\Classes\Lightbox.DICOM\DefaultIcon"; ValueType: string; ValueData: "{app}\{#GuiExe},0"; Tasks: associate
Root: HKA; Subkey: "Software\Classes\Lightbox.DICOM\shell\open\command"; ValueType: string; ValueData: """{app}\{#GuiExe}"" open ""%1"""; Tasks: associate
Root: HKA; Subkey: "Software\Classes\.dcm\OpenWithProgids"; ValueType: string; ValueName: "Lightbox.DICOM"; ValueData: ""; Flags: uninsdeletevalue; Tasks: associate
Root: HKA; Subkey: "Software\Classes\.dcm"; ValueType: string; ValueName: "Content Type"; ValueData: "application/dicom"; Flags: createvalueifdoesntexist; Tasks: associate
Root: HKA; Subkey: "Software\Classes\Applications\{#GuiExe}"; Flags: uninsdeletekey; Tasks: associate
Root: HKA; Subkey: "Software\Classes\Applications\{#GuiExe}\SupportedTypes"; ValueType: string; ValueName: ".dcm"; ValueData: ""; Tasks: associate
Root: HKA; Subkey: "Software\Classes\Applications\{#GuiExe}\shell\open\command"; ValueType: string; ValueData: """{app}\{#GuiExe}"" open ""%1"""; Tasks: associate
; PATH entry, removed again by the uninstaller (see [Code]).
Root: HKA; Subkey: "{code:EnvironmentKey}"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Check: NeedsAddPath('{app}'); Tasks: addtopath

[Run]
Filename: "{app}\{#GuiExe}"; Parameters: "open --demo"; Description: "Open the demo study"; Flags: nowait postinstall skipifsilent

[Code]
function EnvironmentKey(Param: String): String;
begin
  if IsAdminInstallMode then
    Result := 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
  else
    Result := 'Environment';
end;

function PathRoot: Integer;
begin
  if IsAdminInstallMode then
    Result := HKEY_LOCAL_MACHINE
  else
    Result := HKEY_CURRENT_USER;
end;

function NeedsAddPath(Param: String): Boolean;
var
  Paths, Dir: String;
begin
  Dir := ExpandConstant(Param);
  if not RegQueryStringValue(PathRoot, EnvironmentKey(''), 'Path', Paths) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') = 0;
end;

procedure RemoveFromPath(Dir: String);
var
  Paths: String;
  P: Integer;
begin
  if not RegQueryStringValue(PathRoot, EnvironmentKey(''), 'Path', Paths) then
    exit;
  P := Pos(';' + Uppercase(Dir), Uppercase(Paths));
  if P = 0 then
    exit;
  Delete(Paths, P, Length(Dir) + 1);
  RegWriteExpandStringValue(PathRoot, EnvironmentKey(''), 'Path', Paths);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usPostUninstall then
    RemoveFromPath(ExpandConstant('{app}'));
end;
