"""PyInstaller's entry script: the frozen binary starts here, exactly as the `fleetfix` console
script does."""

from fleetfix.cli import main

if __name__ == "__main__":
    main()
