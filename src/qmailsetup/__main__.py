from qmailsetup.cli import main

main()
